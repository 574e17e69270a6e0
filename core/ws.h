/* ws.h — WebSocket connections (RFC 6455, framing by wslay), the per-app
 * connection registry and rooms.
 *
 * A connection starts from a socket the HTTP server handed over after a
 * 101 (http_request_upgrade) and is identified by a 64-bit id that is never
 * reused within its app; Lua only ever holds ids, so a stale id is harmless
 * (every call on it answers -ENOENT).
 *
 * Ownership: a ws_app owns its connections (their uv handles, wslay
 * contexts, queued frames) and its rooms. ws_app_close() sends 1001 to every
 * connection, closes them all, and frees the ws_app once the last handle's
 * close callback ran. Outgoing data frames are built here (server frames are
 * unmasked); a broadcast builds its frame once and writes the same bytes to
 * every member (one refcounted buffer). Each connection's outbound queue —
 * every frame, control frames (pongs, closes) included — is bounded in
 * messages and bytes: reading stops while it is above half a limit, a
 * client that stays there for stall_timeout or overflows it is closed
 * (1008) and its queue dropped, so memory never grows without limit.
 */
#ifndef MN_WS_H
#define MN_WS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct ws_app ws_app;

typedef struct ws_opts {
    size_t max_message;        /* larger incoming message: close 1009 */
    size_t queue_max;          /* queued outgoing messages; over it: close 1008 */
    size_t queue_bytes;        /* queued outgoing bytes; over it: close 1008 */
    unsigned ping_interval_ms; /* a ping this often */
    unsigned pong_timeout_ms;  /* no pong for this long: close */
    unsigned close_timeout_ms; /* after our close frame, wait this long for theirs */
    unsigned max_pending;      /* messages handed to Lua not yet done: stop reading above */
    unsigned stall_timeout_ms; /* queue above half a limit this long: close 1008 */
} ws_opts;

void ws_opts_default(ws_opts *o);

typedef struct ws_events {
    /* A complete, valid UTF-8 text message. text is valid during the call. */
    void (*on_message)(ws_app *w, uint64_t id, const char *text, size_t n, void *ud);
    /* The connection is gone (code: the close code sent or received, 1006
     * when it just dropped). The id is already unknown when this runs. */
    void (*on_close)(ws_app *w, uint64_t id, int code, void *ud);
    /* The number of open connections changed. */
    void (*on_count)(ws_app *w, size_t n, void *ud);
    void *ud;
} ws_events;

ws_app *ws_app_create(uv_loop_t *loop, const ws_events *ev);
/* Close every connection with 1001 and free w once they are all closed. */
void ws_app_close(ws_app *w);

/* Sec-WebSocket-Accept for a key: out gets 28 chars + NUL. 0 or -EINVAL
 * (the key is not base64 of 16 bytes). */
int ws_accept_key(const char *key, size_t n, char out[29]);

/* Adopt an upgraded socket (ownership passes here, see http_request_upgrade)
 * with the bytes already read after the request. user may be NULL. on_gone
 * (may be NULL) is called once with gone_ud when the socket is closed, also
 * on failure: the HTTP server's hold on the connection's count is released
 * there. Returns the new id, or 0 on failure (the socket is closed). */
uint64_t ws_conn_adopt(ws_app *w, uv_tcp_t *tcp, const char *buffered, size_t n,
                       const ws_opts *o, const char *user,
                       void (*on_gone)(void *ud), void *gone_ud);

/* 0, -ENOENT (no such open connection), -ENOBUFS (queue overflow: the
 * connection was closed with 1008), -EMSGSIZE, -ENOMEM. */
int ws_send_text(ws_app *w, uint64_t id, const char *s, size_t n);
/* Deliver to every member of room; returns how many got it (>= 0). */
long ws_broadcast_text(ws_app *w, const char *room, const char *s, size_t n);
int ws_join(ws_app *w, uint64_t id, const char *room);   /* 0, -ENOENT, -ENOMEM */
int ws_leave(ws_app *w, uint64_t id, const char *room);  /* 0 (also when not a member), -ENOENT */
/* Close handshake: send close(code, reason), wait close_timeout for the
 * peer's, then drop. 0 or -ENOENT. */
int ws_close(ws_app *w, uint64_t id, int code, const char *reason);

size_t ws_count(ws_app *w);
size_t ws_room_size(ws_app *w, const char *room);
int ws_is_member(ws_app *w, uint64_t id, const char *room);
/* The user id given at adopt time, or NULL (also for an unknown id). */
const char *ws_user(ws_app *w, uint64_t id);
/* Bytes queued for writing on the connection, or -1 for an unknown id. */
long ws_queued_bytes(ws_app *w, uint64_t id);
/* A message handed to Lua finished (see ws_opts.max_pending). */
void ws_message_done(ws_app *w, uint64_t id);

/* True when s[0..n) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
int ws_utf8_valid(const uint8_t *s, size_t n);

/* The frame path without a socket (the fuzz target): feed bytes as if a
 * client sent them to a fresh connection with options o; returns the close
 * code the server would have sent (0 when none), or -1 on a hard failure.
 * on_text (may be NULL) sees each complete text message. */
int ws_feed_detached(const uint8_t *data, size_t n, const ws_opts *o,
                     void (*on_text)(const char *s, size_t n, void *ud), void *ud);

#endif
