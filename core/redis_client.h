/* redis_client.h — one app's Redis client: a pipelined command connection and
 * a dedicated subscriber connection, hiredis async on the app's libuv loop.
 *
 * One client per app (redis_client_for_app() keeps it in APP_SLOT_REDIS),
 * shared by every Lua generation. Nothing here knows about Lua: lua_redis.c
 * is the binding ("nest.core.redis").
 *
 * Connections: the command connection is opened by redis_client_configure();
 * the subscriber connection on the first redis_client_subscribe(). Each has a
 * connect timeout and, after a failure or a disconnect, reconnects with an
 * exponential backoff (100 ms doubling up to reconnect_max). Subscriptions
 * are re-established on every (re)connect of the subscriber connection.
 *
 * Availability: during the very first connect, commands are queued in hiredis
 * (the caller's own timeout bounds the wait). From the first failure until a
 * connect succeeds (an "outage") commands fail at once with
 * REDIS_CLIENT_UNAVAILABLE — nothing is queued while Redis is down.
 * redis_client_take_event() reports the start and end of an outage once each,
 * so the caller logs one line per transition.
 *
 * Ownership and callbacks:
 *   - A command's callback runs exactly once unless the request is cancelled
 *     first: with a reply the client copied (the callee owns it, frees it with
 *     redis_reply_free), or with NULL when the connection was lost before
 *     the reply came. It runs inside a libuv/hiredis callback: it must not
 *     issue commands or destroy the client (cancelling requests is fine); waking
 *     a sched op is what it is for.
 *   - redis_req_cancel(): the callback never runs; the request's memory is
 *     freed by the client when hiredis lets go of it.
 *   - A subscription's callback runs once per message (the channel and
 *     message bytes are valid only during the call), same restrictions.
 *     redis_sub_cancel() frees it at once; never call it from a callback.
 *   - The hiredis contexts are freed only outside hiredis callbacks (connect
 *     timeout timer, configure, destroy) or by hiredis itself after a
 *     disconnect. The client's own memory is freed in its timers' close
 *     callbacks after redis_client_destroy().
 */
#ifndef MN_REDIS_CLIENT_H
#define MN_REDIS_CLIENT_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <uv.h>

typedef struct redis_client redis_client;
typedef struct redis_req redis_req;
typedef struct redis_sub redis_sub;

#define REDIS_CLIENT_UNAVAILABLE (-1)   /* not connected (outage) */
#define REDIS_CLIENT_NOT_CONFIGURED (-2)
#define REDIS_CLIENT_NOMEM (-3)

/* reply: owned by the callee (redis_reply_free), or NULL = connection lost. */
typedef void (*redis_reply_fn)(void *ud, redisReply *reply);
/* A message published on channel. */
typedef void (*redis_message_fn)(void *ud, const char *channel, size_t clen,
                                 const char *msg, size_t mlen);

typedef struct redis_options {
    const char *host;        /* numeric address or name (resolved blocking: use an IP) */
    int port;
    const char *password;    /* NULL: no AUTH */
    int db;                  /* SELECT db when > 0 */
    double connect_timeout;  /* seconds */
    double reconnect_max;    /* backoff cap, seconds */
} redis_options;

/* A client on loop, not configured yet. NULL on ENOMEM. Destroyed with
 * redis_client_destroy() (void * so it can be a slot's destructor): its
 * connections drop at once, its memory goes in its timers' close callbacks. */
redis_client *redis_client_create(uv_loop_t *loop);
void redis_client_destroy(void *c);

/* Set where to connect. Same host/port/password/db as now: only the timeouts
 * change. Otherwise the connections are dropped and reopened. 0 or NOMEM. */
int redis_client_configure(redis_client *c, const redis_options *o);
int redis_client_configured(const redis_client *c);
/* 1 when the command connection is up. */
int redis_client_available(const redis_client *c);
/* 1 when a command would be accepted now (up, or first connect pending). */
int redis_client_accepting(const redis_client *c);

/* 0 nothing new, 1 an outage began, 2 it ended (each reported once). */
int redis_client_take_event(redis_client *c);

/* Send one command; 0 and *out set, or REDIS_CLIENT_* (fn never runs). */
int redis_client_command(redis_client *c, int argc, const char **argv,
                         const size_t *lens, redis_reply_fn fn, void *ud,
                         redis_req **out);
void redis_req_cancel(redis_req *r);

/* Subscribe to channel (opening the subscriber connection if needed). */
redis_sub *redis_client_subscribe(redis_client *c, const char *channel, size_t clen,
                                  redis_message_fn fn, void *ud);
void redis_sub_cancel(redis_sub *s);

/* Deep copy / free of a reply tree (malloc'd). */
redisReply *redis_reply_copy(const redisReply *r);
void redis_reply_free(redisReply *r);

#endif
