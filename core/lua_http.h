/* lua_http.h — nest.core.http, the request handle Lua streams responses
 * through, and the request <-> Lua conversions app_http.c builds on. */
#ifndef MN_LUA_HTTP_H
#define MN_LUA_HTTP_H

#include "http_server.h"
#include "scheduler.h"

#include <lua.h>

/* The Lua side of one request; lives in Lua memory while its task runs. */
typedef struct mn_http_handle {
    http_request *r;        /* NULL once the request ended */
    sched_task *task;
    void *owner;            /* the app's server (app_http.c) */
    int streaming;
} mn_http_handle;

/* Push the request table for r (its "handle" field included) and return
 * the handle, owned by Lua. */
mn_http_handle *mn_http_push_request(lua_State *L, http_request *r, void *owner);

/* Response headers from a Lua table ({name = value | {values}}): reserved
 * and malformed ones are dropped, names are canonicalised. */
typedef struct mn_hbuf { char *p; size_t len, cap; char stack[2048]; } mn_hbuf;
void mn_hbuf_init(mn_hbuf *b);
void mn_hbuf_free(mn_hbuf *b);
/* Serialize the headers table at idx into b; returns the content type (or NULL). */
const char *mn_http_build_headers(lua_State *L, int idx, mn_hbuf *b);

/* Take the request out of the request handle at idx (a "nest.http.handle";
 * raises otherwise): the caller now answers it (e.g. http_request_upgrade)
 * and the handle reads as ended from here on. NULL when it already ended. */
http_request *mn_http_take_request(lua_State *L, int idx);

#endif
