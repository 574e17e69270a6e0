/* ws.c — WebSocket connections on libuv, framed by wslay's event API; the
 * per-app connection registry (id -> connection) and rooms (name -> members).
 *
 * Reading: bytes from libuv are handed to wslay_event_recv through its recv
 * callback; wslay unmasks (and refuses unmasked client frames with 1002),
 * reassembles fragments, enforces max_message (1009) and answers pings and
 * closes itself. Complete text messages are checked for UTF-8 here (1007)
 * and passed to events.on_message. Binary messages are refused (1003).
 *
 * Writing: control frames come out of wslay's send callback; data frames are
 * built here, so a broadcast frames its payload once and queues the same
 * refcounted buffer on every member. Both go straight into uv_write (the
 * send callback always takes everything, so wslay never holds half a frame
 * and data frames can be interleaved at frame boundaries). Every queued
 * frame — data, pong, ping, close — counts in bytes and messages until
 * libuv reports it written: a frame past queue_max/queue_bytes closes the
 * connection (1008). Above half of either limit (the mark) reading stops,
 * so a peer that sends pings without reading the pongs stops being read
 * instead of growing our queue; one that keeps the queue above the mark for
 * stall_timeout is closed (1008). wslay's own queue only ever holds the
 * pongs for one read buffer (it is flushed after every read), and what it
 * holds counts too.
 *
 * Lifetime: a connection is "dead" once its handles are closing: it is out of
 * the id table at once (calls on its id answer -ENOENT), out of its rooms in
 * the close callback (so a broadcast can walk a room while members drop).
 */
#include "ws.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

typedef struct ws_conn ws_conn;
typedef struct ws_room ws_room;

typedef struct member { ws_room *room; ws_conn *c; size_t idx; } member;

struct ws_room {
    char *name;
    member **m; size_t n, cap;
    ws_room *hnext;
};

struct ws_conn {
    uv_tcp_t *tcp;                 /* NULL for a detached (fuzz) connection */
    uv_timer_t timer;
    ws_app *w;
    uint64_t id;
    char *user;
    wslay_event_context_ptr ctx;
    ws_opts o;
    const uint8_t *feed; size_t feed_len;   /* what wslay_event_recv pulls from */
    size_t q_bytes, q_msgs;
    uint64_t over_since;           /* when the queue went above its mark; 0: below */
    uint64_t last_pong, last_ping;
    int dead, closing, handles_open, reading, close_code, sent_code;
    uint64_t out_left; int out_close, out_got; uint8_t out_code[2];  /* note_sent */
    unsigned pending;
    member **ms; size_t nms, mscap;
    ws_conn *hnext, *prev, *next;
    void (*on_gone)(void *ud);     /* the socket is closed (see ws_conn_adopt) */
    void *gone_ud;
    void (*on_text)(const char *s, size_t n, void *ud);   /* detached only */
    void *text_ud;
};

struct ws_app {
    uv_loop_t *loop;
    ws_events ev;
    uint64_t next_id;
    ws_conn **tab; size_t tabsz, nconn;   /* id -> conn (open ones) */
    ws_room **rooms; size_t roomsz, nrooms;
    ws_conn *all;                         /* every conn not yet freed */
    size_t nall;
    int closing;
    char rbuf[65536];
};

typedef struct shared_buf { int refs; size_t len; char data[]; } shared_buf;
typedef struct wreq { uv_write_t w; ws_conn *c; shared_buf *sb; size_t n; } wreq;

static void conn_kill(ws_conn *c, int code);
static void conn_update_reading(ws_conn *c);

void ws_opts_default(ws_opts *o) {
    o->max_message = 1024 * 1024;
    o->queue_max = 1024;
    o->queue_bytes = 8u << 20;
    o->ping_interval_ms = 25000;
    o->pong_timeout_ms = 60000;
    o->close_timeout_ms = 5000;
    o->max_pending = 64;
    o->stall_timeout_ms = 10000;
}

static uint64_t now_ms(ws_conn *c) { return c->w ? uv_now(c->w->loop) : 0; }

/* ---- UTF-8 --------------------------------------------------------------- */

int ws_utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t b = s[i];
        if (b < 0x80) { i++; continue; }
        size_t need;
        uint32_t cp, min;
        if ((b & 0xE0) == 0xC0) { need = 1; cp = b & 0x1F; min = 0x80; }
        else if ((b & 0xF0) == 0xE0) { need = 2; cp = b & 0x0F; min = 0x800; }
        else if ((b & 0xF8) == 0xF0) { need = 3; cp = b & 0x07; min = 0x10000; }
        else return 0;
        if (n - i <= need) return 0;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += need + 1;
    }
    return 1;
}

/* ---- handshake ------------------------------------------------------------ */

int ws_accept_key(const char *key, size_t n, char out[29]) {
    unsigned char dec[20];
    if (n != 24 || key[22] != '=' || key[23] != '=') return -EINVAL;
    for (size_t i = 0; i < 22; i++) {
        char ch = key[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '+' || ch == '/'))
            return -EINVAL;
    }
    if (EVP_DecodeBlock(dec, (const unsigned char *)key, 24) != 18) return -EINVAL;
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char buf[24 + sizeof guid], md[SHA_DIGEST_LENGTH];
    memcpy(buf, key, 24);
    memcpy(buf + 24, guid, sizeof guid - 1);
    SHA1(buf, 24 + sizeof guid - 1, md);
    EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
    out[28] = 0;
    return 0;
}

/* ---- tables ------------------------------------------------------------------ */

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    while (*s) { h ^= (unsigned char)*s++; h *= 1099511628211ull; }
    return h;
}

static uint64_t hash_id(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull; x ^= x >> 33;
    return x;
}

static ws_conn *conn_find(ws_app *w, uint64_t id) {
    if (!w->tabsz) return NULL;
    for (ws_conn *c = w->tab[hash_id(id) & (w->tabsz - 1)]; c; c = c->hnext)
        if (c->id == id) return c;
    return NULL;
}

static int conn_table_add(ws_app *w, ws_conn *c) {
    if (w->nconn + 1 > w->tabsz) {
        size_t nsz = w->tabsz ? w->tabsz * 2 : 64;
        ws_conn **nt = calloc(nsz, sizeof *nt);
        if (!nt) return -ENOMEM;
        for (size_t i = 0; i < w->tabsz; i++)
            for (ws_conn *x = w->tab[i], *nx; x; x = nx) {
                nx = x->hnext;
                size_t b = hash_id(x->id) & (nsz - 1);
                x->hnext = nt[b];
                nt[b] = x;
            }
        free(w->tab);
        w->tab = nt;
        w->tabsz = nsz;
    }
    size_t b = hash_id(c->id) & (w->tabsz - 1);
    c->hnext = w->tab[b];
    w->tab[b] = c;
    w->nconn++;
    return 0;
}

static void conn_table_remove(ws_app *w, ws_conn *c) {
    if (!w->tabsz) return;
    ws_conn **pp = &w->tab[hash_id(c->id) & (w->tabsz - 1)];
    while (*pp && *pp != c) pp = &(*pp)->hnext;
    if (*pp) { *pp = c->hnext; w->nconn--; }
}

static ws_room *room_find(ws_app *w, const char *name, ws_room ***slot) {
    if (!w->roomsz) return NULL;
    ws_room **pp = &w->rooms[hash_str(name) & (w->roomsz - 1)];
    while (*pp && strcmp((*pp)->name, name)) pp = &(*pp)->hnext;
    if (slot) *slot = pp;
    return *pp;
}

static ws_room *room_get(ws_app *w, const char *name) {
    ws_room *r = room_find(w, name, NULL);
    if (r) return r;
    if (w->nrooms + 1 > w->roomsz) {
        size_t nsz = w->roomsz ? w->roomsz * 2 : 64;
        ws_room **nt = calloc(nsz, sizeof *nt);
        if (!nt) return NULL;
        for (size_t i = 0; i < w->roomsz; i++)
            for (ws_room *x = w->rooms[i], *nx; x; x = nx) {
                nx = x->hnext;
                size_t b = hash_str(x->name) & (nsz - 1);
                x->hnext = nt[b];
                nt[b] = x;
            }
        free(w->rooms);
        w->rooms = nt;
        w->roomsz = nsz;
    }
    r = calloc(1, sizeof *r);
    if (!r || !(r->name = strdup(name))) { free(r); return NULL; }
    size_t b = hash_str(name) & (w->roomsz - 1);
    r->hnext = w->rooms[b];
    w->rooms[b] = r;
    w->nrooms++;
    return r;
}

static void room_drop_if_empty(ws_app *w, ws_room *r) {
    if (r->n) return;
    ws_room **pp;
    if (room_find(w, r->name, &pp) != r) return;
    *pp = r->hnext;
    w->nrooms--;
    free(r->name);
    free(r->m);
    free(r);
}

static void member_remove(ws_app *w, ws_conn *c, size_t k) {
    member *m = c->ms[k];
    ws_room *r = m->room;
    r->m[m->idx] = r->m[r->n - 1];
    r->m[m->idx]->idx = m->idx;
    r->n--;
    c->ms[k] = c->ms[--c->nms];
    free(m);
    room_drop_if_empty(w, r);
}

/* ---- writing ------------------------------------------------------------------ */

static void sb_unref(shared_buf *sb) { if (--sb->refs == 0) free(sb); }

/* Above the mark (half of either queue limit) reading stops. */
static int over_mark(const ws_conn *c) {
    return c->q_msgs > c->o.queue_max / 2 || c->q_bytes > c->o.queue_bytes / 2;
}

static void note_queue(ws_conn *c) {
    int over = over_mark(c);
    if (over == (c->over_since != 0)) return;
    c->over_since = over ? (now_ms(c) ? now_ms(c) : 1) : 0;
    conn_update_reading(c);
}

static void on_written(uv_write_t *req, int status) {
    wreq *wr = (wreq *)req;
    ws_conn *c = wr->c;
    c->q_bytes -= wr->n;
    c->q_msgs--;
    sb_unref(wr->sb);
    free(wr);
    if (status < 0 && !c->dead) conn_kill(c, 1006);
    if (!c->dead) note_queue(c);
}

/* Queue sb on c; every frame counts against queue_max and queue_bytes,
 * with what wslay still holds (the rest of one read's pongs). */
static int conn_write(ws_conn *c, shared_buf *sb) {
    if (c->dead) return -ENOENT;
    if (!c->tcp) return 0;   /* detached: discard */
    size_t msgs = c->q_msgs + wslay_event_get_queued_msg_count(c->ctx);
    size_t bytes = c->q_bytes + wslay_event_get_queued_msg_length(c->ctx);
    if (msgs + 1 > c->o.queue_max || bytes + sb->len > c->o.queue_bytes) {
        conn_kill(c, 1008);
        return -ENOBUFS;
    }
    wreq *wr = malloc(sizeof *wr);
    if (!wr) return -ENOMEM;
    wr->c = c;
    wr->sb = sb;
    wr->n = sb->len;
    sb->refs++;
    uv_buf_t b = uv_buf_init(sb->data, (unsigned)sb->len);
    if (uv_write(&wr->w, (uv_stream_t *)c->tcp, &b, 1, on_written) != 0) {
        sb->refs--;
        free(wr);
        conn_kill(c, 1006);
        return -EPIPE;
    }
    c->q_bytes += sb->len;
    c->q_msgs++;
    note_queue(c);
    return 0;
}

/* One unmasked text frame (FIN set) around s. refs start at 1. */
static shared_buf *frame_text(const char *s, size_t n) {
    size_t hl = n < 126 ? 2 : n < 65536 ? 4 : 10;
    shared_buf *sb = malloc(sizeof *sb + hl + n);
    if (!sb) return NULL;
    sb->refs = 1;
    sb->len = hl + n;
    uint8_t *p = (uint8_t *)sb->data;
    p[0] = 0x81;
    if (hl == 2) p[1] = (uint8_t)n;
    else if (hl == 4) { p[1] = 126; p[2] = (uint8_t)(n >> 8); p[3] = (uint8_t)n; }
    else {
        p[1] = 127;
        for (int i = 0; i < 8; i++) p[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
    }
    memcpy(p + hl, s, n);
    return sb;
}

/* ---- wslay callbacks ---------------------------------------------------------- */

static ssize_t cb_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud) {
    (void)flags;
    ws_conn *c = ud;
    if (!c->feed_len) { wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK); return -1; }
    size_t n = len < c->feed_len ? len : c->feed_len;
    memcpy(buf, c->feed, n);
    c->feed += n;
    c->feed_len -= n;
    return (ssize_t)n;
}

/* Follow the frames wslay writes (whole headers, payloads maybe split over
 * calls) to learn the code of a close frame it makes itself (1002, 1007,
 * 1009, the echo of the peer's) for on_close. */
static void note_sent(ws_conn *c, const uint8_t *d, size_t len) {
    while (len) {
        if (c->out_left) {
            size_t k = len < c->out_left ? len : (size_t)c->out_left;
            for (size_t i = 0; i < k && c->out_close && c->out_got < 2; i++)
                c->out_code[c->out_got++] = d[i];
            if (c->out_close && c->out_got == 2 && !c->sent_code)
                c->sent_code = (c->out_code[0] << 8) | c->out_code[1];
            c->out_left -= k;
            d += k;
            len -= k;
            continue;
        }
        if (len < 2) return;
        size_t hl = 2;
        uint64_t pl = d[1] & 0x7f;
        if (pl == 126) { if (len < 4) return; pl = ((uint64_t)d[2] << 8) | d[3]; hl = 4; }
        else if (pl == 127) {
            if (len < 10) return;
            pl = 0;
            for (int i = 0; i < 8; i++) pl = (pl << 8) | d[2 + i];
            hl = 10;
        }
        if (d[1] & 0x80) hl += 4;
        if (len < hl) return;
        c->out_close = (d[0] & 0x0f) == 8;
        c->out_got = 0;
        c->out_left = pl;
        d += hl;
        len -= hl;
    }
}

static ssize_t cb_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud) {
    (void)flags;
    ws_conn *c = ud;
    if (c->dead) { wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE); return -1; }
    /* a close frame wslay makes itself (1002, 1009, the echo of the peer's):
     * remember its code for on_close */
    note_sent(c, data, len);
    if (!c->tcp) return (ssize_t)len;
    shared_buf *sb = malloc(sizeof *sb + len);
    if (!sb) { wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE); return -1; }
    sb->refs = 1;
    sb->len = len;
    memcpy(sb->data, data, len);
    int rc = conn_write(c, sb);
    sb_unref(sb);
    if (rc < 0) { wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE); return -1; }
    return (ssize_t)len;
}

static void queue_close(ws_conn *c, int code, const char *reason) {
    if (wslay_event_get_close_sent(c->ctx)) return;
    if (!c->sent_code) c->sent_code = code;
    wslay_event_queue_close(c->ctx, (uint16_t)code, (const uint8_t *)reason,
                            reason ? strlen(reason) : 0);
}

static void cb_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *ud) {
    (void)ctx;
    ws_conn *c = ud;
    switch (arg->opcode) {
    case WSLAY_TEXT_FRAME:
        if (!ws_utf8_valid(arg->msg, arg->msg_length)) { queue_close(c, 1007, "invalid UTF-8"); return; }
        if (wslay_event_get_close_sent(c->ctx)) return;
        if (c->on_text) c->on_text((const char *)arg->msg, arg->msg_length, c->text_ud);
        if (c->w && c->w->ev.on_message && !c->dead) {
            c->pending++;
            c->w->ev.on_message(c->w, c->id, (const char *)arg->msg, arg->msg_length, c->w->ev.ud);
        }
        break;
    case WSLAY_BINARY_FRAME:
        queue_close(c, 1003, "binary messages are not supported");
        break;
    case WSLAY_PONG:
        c->last_pong = now_ms(c);
        break;
    case WSLAY_CONNECTION_CLOSE:
        if (!c->close_code) c->close_code = arg->status_code ? arg->status_code : 1005;
        break;
    default:
        break;
    }
}

static ws_conn *conn_new(const ws_opts *o) {
    ws_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (o) c->o = *o; else ws_opts_default(&c->o);
    static const struct wslay_event_callbacks cbs = {cb_recv, cb_send, NULL, NULL, NULL, NULL, cb_msg};
    if (wslay_event_context_server_init(&c->ctx, &cbs, c) != 0) { free(c); return NULL; }
    wslay_event_config_set_max_recv_msg_length(c->ctx, c->o.max_message);
    return c;
}

/* Run wslay over c->feed, flush what it wants to send. -1 when the
 * connection is finished (closed both ways, or a hard error). */
static int conn_pump(ws_conn *c) {
    if (wslay_event_recv(c->ctx) != 0) return -1;
    if (!c->dead && wslay_event_send(c->ctx) != 0) return -1;
    if (c->dead) return -1;
    if (!wslay_event_want_read(c->ctx) && !wslay_event_want_write(c->ctx)) return -1;
    return 0;
}

int ws_feed_detached(const uint8_t *data, size_t n, const ws_opts *o,
                     void (*on_text)(const char *s, size_t n, void *ud), void *ud) {
    ws_conn *c = conn_new(o);
    if (!c) return -1;
    c->on_text = on_text;
    c->text_ud = ud;
    /* feed in uneven slices so partial frames are exercised too */
    size_t off = 0, step = 1;
    int rc = 0;
    while (off < n && rc == 0) {
        size_t k = n - off < step ? n - off : step;
        c->feed = data + off;
        c->feed_len = k;
        off += k;
        step = step * 3 + 1;
        if (conn_pump(c) != 0) rc = 1;
    }
    int code = c->sent_code;
    if (!code && wslay_event_get_close_sent(c->ctx)) code = 1000;
    wslay_event_context_free(c->ctx);
    free(c);
    return code;
}

/* ---- connection lifecycle ------------------------------------------------------ */

static void on_handle_closed(uv_handle_t *h) {
    ws_conn *c = h->data;
    if ((uv_handle_t *)c->tcp == h) free(h);
    if (--c->handles_open > 0) return;
    ws_app *w = c->w;
    while (c->nms) member_remove(w, c, c->nms - 1);
    free(c->ms);
    if (c->prev) c->prev->next = c->next; else w->all = c->next;
    if (c->next) c->next->prev = c->prev;
    w->nall--;
    wslay_event_context_free(c->ctx);
    if (c->on_gone) c->on_gone(c->gone_ud);
    free(c->user);
    free(c);
    if (w->closing && !w->nall) {
        free(w->tab);
        for (size_t i = 0; i < w->roomsz; i++)
            for (ws_room *r = w->rooms[i], *nx; r; r = nx) { nx = r->hnext; free(r->name); free(r->m); free(r); }
        free(w->rooms);
        free(w);
    }
}

/* Drop the connection now: out of the id table, handles closing. */
static void conn_kill(ws_conn *c, int code) {
    if (c->dead) return;
    c->dead = 1;
    ws_app *w = c->w;
    conn_table_remove(w, c);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)c->tcp, on_handle_closed);
    int reported = c->sent_code ? c->sent_code : c->close_code ? c->close_code : code;
    if (w->ev.on_close && !w->closing) w->ev.on_close(w, c->id, reported, w->ev.ud);
    if (w->ev.on_count && !w->closing) w->ev.on_count(w, w->nconn, w->ev.ud);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
    (void)hint;
    ws_conn *c = h->data;
    *b = uv_buf_init(c->w->rbuf, sizeof c->w->rbuf);
}

static void conn_feed(ws_conn *c, const char *data, size_t n) {
    c->feed = (const uint8_t *)data;
    c->feed_len = n;
    int rc = conn_pump(c);
    c->feed_len = 0;
    if (rc != 0) { conn_kill(c, 1006); return; }
    if (wslay_event_get_close_sent(c->ctx) && !c->closing) {
        /* we answered or started a close: give the peer close_timeout */
        c->closing = 1;
        c->last_ping = now_ms(c);   /* the close timeout counts from here */
    }
    conn_update_reading(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
    ws_conn *c = s->data;
    if (c->dead || nread == 0) return;
    if (nread < 0) { conn_kill(c, 1006); return; }
    conn_feed(c, b->base, (size_t)nread);
}

static void conn_update_reading(ws_conn *c) {
    if (c->dead) return;
    int want = (c->pending < c->o.max_pending && !c->over_since) || c->closing;
    if (want && !c->reading) {
        if (uv_read_start((uv_stream_t *)c->tcp, on_alloc, on_read) == 0) c->reading = 1;
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)c->tcp);
        c->reading = 0;
    }
}

static void on_timer(uv_timer_t *t) {
    ws_conn *c = t->data;
    if (c->dead) return;
    uint64_t now = now_ms(c);
    if (c->closing) {
        if (now - c->last_ping >= c->o.close_timeout_ms) conn_kill(c, 1006);
        return;
    }
    if (c->over_since && now - c->over_since >= c->o.stall_timeout_ms) {
        /* it does not read what we queue: nothing more will fit */
        conn_kill(c, 1008);
        return;
    }
    if (now - c->last_pong >= c->o.pong_timeout_ms) {
        queue_close(c, 1001, "pong timeout");
        wslay_event_send(c->ctx);
        conn_kill(c, 1001);
        return;
    }
    if (now - c->last_ping >= c->o.ping_interval_ms) {
        struct wslay_event_msg m = {WSLAY_PING, (const uint8_t *)"", 0};
        c->last_ping = now;
        if (wslay_event_queue_msg(c->ctx, &m) == 0 && wslay_event_send(c->ctx) != 0)
            conn_kill(c, 1006);
    }
}

static unsigned tick_ms(const ws_opts *o) {
    unsigned a = o->ping_interval_ms < o->pong_timeout_ms ? o->ping_interval_ms : o->pong_timeout_ms;
    a /= 4;
    if (a < 5) a = 5;
    if (a > 1000) a = 1000;
    return a;
}

static void free_handle(uv_handle_t *h) { free(h); }

uint64_t ws_conn_adopt(ws_app *w, uv_tcp_t *tcp, const char *buffered, size_t n,
                       const ws_opts *o, const char *user,
                       void (*on_gone)(void *ud), void *gone_ud) {
    ws_conn *c = w->closing ? NULL : conn_new(o);
    if (!c || (user && !(c->user = strdup(user)))) {
        if (c) { wslay_event_context_free(c->ctx); free(c); }
        uv_close((uv_handle_t *)tcp, free_handle);
        if (on_gone) on_gone(gone_ud);   /* closing: its count can go now */
        return 0;
    }
    c->on_gone = on_gone;
    c->gone_ud = gone_ud;
    c->w = w;
    c->tcp = tcp;
    c->id = ++w->next_id;
    tcp->data = c;
    uv_timer_init(w->loop, &c->timer);
    c->timer.data = c;
    c->handles_open = 2;
    c->next = w->all;
    if (w->all) w->all->prev = c;
    w->all = c;
    w->nall++;
    c->last_pong = c->last_ping = uv_now(w->loop);
    if (conn_table_add(w, c) != 0) { c->id = 0; conn_kill(c, 1011); return 0; }
    uv_timer_start(&c->timer, on_timer, tick_ms(&c->o), tick_ms(&c->o));
    if (w->ev.on_count) w->ev.on_count(w, w->nconn, w->ev.ud);
    uint64_t id = c->id;
    conn_update_reading(c);
    if (n) conn_feed(c, buffered, n);
    return id;
}

/* ---- the app --------------------------------------------------------------------- */

ws_app *ws_app_create(uv_loop_t *loop, const ws_events *ev) {
    ws_app *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->loop = loop;
    if (ev) w->ev = *ev;
    return w;
}

void ws_app_close(ws_app *w) {
    w->closing = 1;
    static const uint8_t going_away[] = {0x88, 0x02, 0x03, 0xE9};   /* close 1001 */
    for (ws_conn *c = w->all; c; c = c->next) {
        if (c->dead) continue;
        if (!wslay_event_get_close_sent(c->ctx) && c->q_bytes == 0) {
            uv_buf_t b = uv_buf_init((char *)going_away, sizeof going_away);
            uv_try_write((uv_stream_t *)c->tcp, &b, 1);
        }
        conn_kill(c, 1001);
    }
    if (!w->nall) {
        free(w->tab);
        free(w->rooms);
        free(w);
    }
}

int ws_send_text(ws_app *w, uint64_t id, const char *s, size_t n) {
    ws_conn *c = conn_find(w, id);
    if (!c || c->dead || wslay_event_get_close_sent(c->ctx)) return -ENOENT;
    shared_buf *sb = frame_text(s, n);
    if (!sb) return -ENOMEM;
    int rc = conn_write(c, sb);
    sb_unref(sb);
    return rc;
}

long ws_broadcast_text(ws_app *w, const char *room, const char *s, size_t n) {
    ws_room *r = room_find(w, room, NULL);
    if (!r || !r->n) return 0;
    shared_buf *sb = frame_text(s, n);
    if (!sb) return -ENOMEM;
    long sent = 0;
    /* conn_kill never changes r->m (members leave in the close callback) */
    for (size_t i = 0; i < r->n; i++) {
        ws_conn *c = r->m[i]->c;
        if (c->dead || wslay_event_get_close_sent(c->ctx)) continue;
        if (conn_write(c, sb) == 0) sent++;
    }
    sb_unref(sb);
    return sent;
}

int ws_join(ws_app *w, uint64_t id, const char *room) {
    ws_conn *c = conn_find(w, id);
    if (!c) return -ENOENT;
    for (size_t k = 0; k < c->nms; k++)
        if (!strcmp(c->ms[k]->room->name, room)) return 0;
    ws_room *r = room_get(w, room);
    if (!r) return -ENOMEM;
    member *m = malloc(sizeof *m);
    if (!m) { room_drop_if_empty(w, r); return -ENOMEM; }
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 4;
        member **nm = realloc(r->m, nc * sizeof *nm);
        if (!nm) { free(m); room_drop_if_empty(w, r); return -ENOMEM; }
        r->m = nm;
        r->cap = nc;
    }
    if (c->nms == c->mscap) {
        size_t nc = c->mscap ? c->mscap * 2 : 4;
        member **nm = realloc(c->ms, nc * sizeof *nm);
        if (!nm) { free(m); room_drop_if_empty(w, r); return -ENOMEM; }
        c->ms = nm;
        c->mscap = nc;
    }
    m->room = r;
    m->c = c;
    m->idx = r->n;
    r->m[r->n++] = m;
    c->ms[c->nms++] = m;
    return 0;
}

int ws_leave(ws_app *w, uint64_t id, const char *room) {
    ws_conn *c = conn_find(w, id);
    if (!c) return -ENOENT;
    for (size_t k = 0; k < c->nms; k++)
        if (!strcmp(c->ms[k]->room->name, room)) { member_remove(w, c, k); break; }
    return 0;
}

int ws_close(ws_app *w, uint64_t id, int code, const char *reason) {
    ws_conn *c = conn_find(w, id);
    if (!c) return -ENOENT;
    if (wslay_event_get_close_sent(c->ctx)) return 0;
    queue_close(c, code, reason);
    if (wslay_event_send(c->ctx) != 0) { conn_kill(c, code); return 0; }
    c->closing = 1;
    c->last_ping = now_ms(c);   /* the close timeout counts from here */
    conn_update_reading(c);
    return 0;
}

size_t ws_count(ws_app *w) { return w->nconn; }

size_t ws_room_size(ws_app *w, const char *room) {
    ws_room *r = room_find(w, room, NULL);
    size_t n = 0;
    if (r)
        for (size_t i = 0; i < r->n; i++) n += !r->m[i]->c->dead;
    return n;
}

int ws_is_member(ws_app *w, uint64_t id, const char *room) {
    ws_conn *c = conn_find(w, id);
    if (!c) return 0;
    for (size_t k = 0; k < c->nms; k++)
        if (!strcmp(c->ms[k]->room->name, room)) return 1;
    return 0;
}

const char *ws_user(ws_app *w, uint64_t id) {
    ws_conn *c = conn_find(w, id);
    return c ? c->user : NULL;
}

long ws_queued_bytes(ws_app *w, uint64_t id) {
    ws_conn *c = conn_find(w, id);
    return c ? (long)c->q_bytes : -1;
}

void ws_message_done(ws_app *w, uint64_t id) {
    ws_conn *c = conn_find(w, id);
    if (!c) return;
    if (c->pending) c->pending--;
    conn_update_reading(c);
}
