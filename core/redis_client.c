/* redis_client.c — the app's Redis connections (see redis_client.h).
 *
 * Owns two redis_conn (command, subscriber), each with one uv_timer used for
 * the connect timeout and the reconnect backoff, and the list of
 * subscriptions. hiredis owns its contexts: it frees one itself after a
 * disconnect or a failed connect (we only drop our pointer in the callback);
 * we free one with redisAsyncFree only from outside hiredis callbacks.
 */
#include "redis_client.h"

#include <hiredis/async.h>
#include <hiredis/adapters/libuv.h>
#include <stdlib.h>
#include <string.h>

enum { CONN_DOWN, CONN_CONNECTING, CONN_UP };

typedef struct redis_conn {
    redis_client *c;
    redisAsyncContext *ac;
    uv_timer_t timer;         /* connect timeout, then reconnect backoff */
    int state;
    int is_sub;
    int started;              /* subscriber: opened once someone subscribed */
    uint64_t backoff_ms;
} redis_conn;

struct redis_req {
    redis_reply_fn fn;        /* NULL once cancelled */
    void *ud;
};

struct redis_sub {
    redis_client *c;
    char *channel;
    size_t clen;
    redis_message_fn fn;
    void *ud;
    redis_sub *prev, *next;
};

struct redis_client {
    uv_loop_t *loop;
    redis_conn cmd, sub;
    char *host, *password;
    int port, db, configured;
    uint64_t connect_timeout_ms, reconnect_max_ms;
    int outage;               /* the command connection failed and is not back */
    int pending_event;        /* 0, 1 (down), 2 (back) */
    int down_reported;
    int closing, open_handles;
    redis_sub *subs;
};

#define BACKOFF_MIN_MS 100

static void conn_start(redis_conn *k);
static void conn_subscribe_all(redis_conn *k);

/* ---- replies --------------------------------------------------------------- */

redisReply *redis_reply_copy(const redisReply *r) {
    redisReply *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->type = r->type;
    o->integer = r->integer;
    if (r->str) {
        o->str = malloc(r->len + 1);
        if (!o->str) { free(o); return NULL; }
        memcpy(o->str, r->str, r->len);
        o->str[r->len] = 0;
        o->len = r->len;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
        o->element = calloc(r->elements, sizeof *o->element);
        if (!o->element) { redis_reply_free(o); return NULL; }
        o->elements = r->elements;
        for (size_t i = 0; i < r->elements; i++) {
            o->element[i] = r->element[i] ? redis_reply_copy(r->element[i]) : NULL;
            if (r->element[i] && !o->element[i]) { redis_reply_free(o); return NULL; }
        }
    }
    return o;
}

void redis_reply_free(redisReply *r) {
    if (!r) return;
    for (size_t i = 0; i < r->elements; i++) redis_reply_free(r->element[i]);
    free(r->element);
    free(r->str);
    free(r);
}

/* ---- connection state ------------------------------------------------------ */

static void outage_begin(redis_client *c) {
    if (c->outage) return;
    c->outage = 1;
    c->pending_event = 1;
}

static void outage_end(redis_client *c) {
    if (!c->outage) return;
    c->outage = 0;
    c->pending_event = c->down_reported ? 2 : 0;   /* an unnoticed outage stays silent */
}

int redis_client_take_event(redis_client *c) {
    int e = c->pending_event;
    c->pending_event = 0;
    if (e == 1) c->down_reported = 1;
    if (e == 2) c->down_reported = 0;
    return e;
}

static void on_retry(uv_timer_t *t) {
    redis_conn *k = t->data;
    if (!k->c->closing && k->state == CONN_DOWN) conn_start(k);
}

/* The connection is gone (hiredis freed or we freed the context): wait, retry. */
static void conn_down(redis_conn *k) {
    redis_client *c = k->c;
    k->ac = NULL;
    k->state = CONN_DOWN;
    if (c->closing) return;
    if (!k->is_sub) outage_begin(c);
    uint64_t d = k->backoff_ms ? k->backoff_ms : BACKOFF_MIN_MS;
    k->backoff_ms = d * 2 > c->reconnect_max_ms ? c->reconnect_max_ms : d * 2;
    uv_timer_start(&k->timer, on_retry, d, 0);
}

static void on_connect_timeout(uv_timer_t *t) {
    redis_conn *k = t->data;
    if (k->state != CONN_CONNECTING || !k->ac) return;
    redisAsyncContext *ac = k->ac;
    k->ac = NULL;
    ac->data = NULL;          /* our callbacks ignore it from now on */
    redisAsyncFree(ac);       /* pending callbacks run with NULL replies */
    conn_down(k);
}

static void on_connect(const redisAsyncContext *ac, int status) {
    redis_conn *k = ac->data;
    if (!k) return;
    uv_timer_stop(&k->timer);
    if (status != REDIS_OK) {  /* hiredis frees ac after this returns */
        conn_down(k);
        return;
    }
    k->state = CONN_UP;
    k->backoff_ms = 0;
    if (!k->is_sub) outage_end(k->c);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
    (void)status;
    redis_conn *k = ac->data;
    if (!k) return;
    conn_down(k);             /* hiredis frees ac after this returns */
}

static void conn_start(redis_conn *k) {
    redis_client *c = k->c;
    k->started = 1;
    redisAsyncContext *ac = redisAsyncConnect(c->host, c->port);
    if (!ac || ac->err || redisLibuvAttach(ac, c->loop) != REDIS_OK) {
        if (ac) redisAsyncFree(ac);
        conn_down(k);
        return;
    }
    ac->data = k;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    k->ac = ac;
    k->state = CONN_CONNECTING;
    uv_timer_start(&k->timer, on_connect_timeout, c->connect_timeout_ms, 0);
    /* Queued before anything else: hiredis writes them once connected. */
    if (c->password) redisAsyncCommand(ac, NULL, NULL, "AUTH %s", c->password);
    if (c->db > 0) redisAsyncCommand(ac, NULL, NULL, "SELECT %d", c->db);
    if (k->is_sub) conn_subscribe_all(k);
}

/* Drop the connection now (from outside hiredis callbacks only). */
static void conn_drop(redis_conn *k) {
    uv_timer_stop(&k->timer);
    if (k->ac) {
        redisAsyncContext *ac = k->ac;
        k->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    k->state = CONN_DOWN;
    k->backoff_ms = 0;
    k->started = 0;
}

/* ---- client ---------------------------------------------------------------- */

static void client_handle_closed(uv_handle_t *h) {
    redis_client *c = ((redis_conn *)h->data)->c;
    if (--c->open_handles == 0) free(c);
}

void redis_client_destroy(void *p) {
    redis_client *c = p;
    c->closing = 1;
    conn_drop(&c->cmd);
    conn_drop(&c->sub);
    while (c->subs) redis_sub_cancel(c->subs);
    free(c->host);
    free(c->password);
    uv_close((uv_handle_t *)&c->cmd.timer, client_handle_closed);
    uv_close((uv_handle_t *)&c->sub.timer, client_handle_closed);
}

redis_client *redis_client_create(uv_loop_t *loop) {
    redis_client *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->loop = loop;
    c->cmd.c = c->sub.c = c;
    c->sub.is_sub = 1;
    uv_timer_init(c->loop, &c->cmd.timer);
    uv_timer_init(c->loop, &c->sub.timer);
    c->cmd.timer.data = &c->cmd;
    c->sub.timer.data = &c->sub;
    c->open_handles = 2;
    c->connect_timeout_ms = 1000;
    c->reconnect_max_ms = 5000;
    return c;
}

static int same(const char *a, const char *b) {
    if (!a || !b) return a == b;
    return strcmp(a, b) == 0;
}

int redis_client_configure(redis_client *c, const redis_options *o) {
    c->connect_timeout_ms = o->connect_timeout > 0 ? (uint64_t)(o->connect_timeout * 1000) : 1000;
    c->reconnect_max_ms = o->reconnect_max > 0 ? (uint64_t)(o->reconnect_max * 1000) : 5000;
    if (c->reconnect_max_ms < BACKOFF_MIN_MS) c->reconnect_max_ms = BACKOFF_MIN_MS;
    if (c->configured && same(c->host, o->host) && c->port == o->port &&
        same(c->password, o->password) && c->db == o->db)
        return 0;
    char *host = strdup(o->host);
    char *pw = o->password ? strdup(o->password) : NULL;
    if (!host || (o->password && !pw)) { free(host); free(pw); return REDIS_CLIENT_NOMEM; }
    conn_drop(&c->cmd);
    conn_drop(&c->sub);
    free(c->host);
    free(c->password);
    c->host = host;
    c->password = pw;
    c->port = o->port;
    c->db = o->db;
    c->configured = 1;
    c->outage = 0;
    conn_start(&c->cmd);
    if (c->subs) conn_start(&c->sub);
    return 0;
}

int redis_client_configured(const redis_client *c) { return c->configured; }
int redis_client_available(const redis_client *c) { return c->cmd.state == CONN_UP; }
int redis_client_accepting(const redis_client *c) {
    return c->cmd.state == CONN_UP || (c->cmd.state == CONN_CONNECTING && !c->outage);
}

/* ---- commands -------------------------------------------------------------- */

static void on_reply(redisAsyncContext *ac, void *r, void *priv) {
    (void)ac;
    redis_req *req = priv;
    if (req->fn) req->fn(req->ud, r ? redis_reply_copy(r) : NULL);
    free(req);
}

int redis_client_command(redis_client *c, int argc, const char **argv,
                         const size_t *lens, redis_reply_fn fn, void *ud,
                         redis_req **out) {
    if (!c->configured) return REDIS_CLIENT_NOT_CONFIGURED;
    if (!redis_client_accepting(c) || !c->cmd.ac) return REDIS_CLIENT_UNAVAILABLE;
    redis_req *req = malloc(sizeof *req);
    if (!req) return REDIS_CLIENT_NOMEM;
    req->fn = fn;
    req->ud = ud;
    if (redisAsyncCommandArgv(c->cmd.ac, on_reply, req, argc, argv, lens) != REDIS_OK) {
        free(req);
        return REDIS_CLIENT_UNAVAILABLE;
    }
    *out = req;
    return 0;
}

void redis_req_cancel(redis_req *r) { r->fn = NULL; }

/* ---- pub/sub --------------------------------------------------------------- */

static void on_sub_reply(redisAsyncContext *ac, void *r, void *priv) {
    (void)ac;
    redisReply *m = r;
    redis_client *c = priv;
    if (!m || !c || c->closing || m->type != REDIS_REPLY_ARRAY || m->elements != 3) return;
    if (m->element[0]->type != REDIS_REPLY_STRING || strcmp(m->element[0]->str, "message") != 0) return;
    const redisReply *ch = m->element[1], *msg = m->element[2];
    if (ch->type != REDIS_REPLY_STRING || msg->type != REDIS_REPLY_STRING) return;
    for (redis_sub *s = c->subs, *next; s; s = next) {
        next = s->next;
        if (s->clen == ch->len && memcmp(s->channel, ch->str, ch->len) == 0)
            s->fn(s->ud, ch->str, ch->len, msg->str, msg->len);
    }
}

static void sub_send(redis_conn *k, const char *verb, const redis_sub *s) {
    const char *argv[2] = {verb, s->channel};
    size_t lens[2] = {strlen(verb), s->clen};
    redisAsyncCommandArgv(k->ac, on_sub_reply, k->c, 2, argv, lens);
}

static int channel_used(redis_client *c, const redis_sub *except, const char *ch, size_t len) {
    for (redis_sub *s = c->subs; s; s = s->next)
        if (s != except && s->clen == len && memcmp(s->channel, ch, len) == 0) return 1;
    return 0;
}

static void conn_subscribe_all(redis_conn *k) {
    for (redis_sub *s = k->c->subs; s; s = s->next) {
        int first = 1;        /* one SUBSCRIBE per distinct channel */
        for (redis_sub *e = k->c->subs; e != s; e = e->next)
            if (e->clen == s->clen && memcmp(e->channel, s->channel, s->clen) == 0) first = 0;
        if (first) sub_send(k, "SUBSCRIBE", s);
    }
}

redis_sub *redis_client_subscribe(redis_client *c, const char *channel, size_t clen,
                                  redis_message_fn fn, void *ud) {
    redis_sub *s = calloc(1, sizeof *s);
    if (!s || !(s->channel = malloc(clen + 1))) { free(s); return NULL; }
    memcpy(s->channel, channel, clen);
    s->channel[clen] = 0;
    s->clen = clen;
    s->c = c;
    s->fn = fn;
    s->ud = ud;
    int had = channel_used(c, NULL, channel, clen);
    s->next = c->subs;
    if (c->subs) c->subs->prev = s;
    c->subs = s;
    if (!c->configured) return s;
    if (!c->sub.started) conn_start(&c->sub);
    else if (c->sub.ac && !had) sub_send(&c->sub, "SUBSCRIBE", s);
    return s;
}

void redis_sub_cancel(redis_sub *s) {
    redis_client *c = s->c;
    if (s->prev) s->prev->next = s->next;
    else c->subs = s->next;
    if (s->next) s->next->prev = s->prev;
    if (!c->closing && c->sub.ac && !channel_used(c, NULL, s->channel, s->clen))
        sub_send(&c->sub, "UNSUBSCRIBE", s);
    free(s->channel);
    free(s);
}
