/* lua_http.h — the bridge between the HTTP server and Lua: requests become
 * tasks running the generation's dispatch hook; what the hook returns is
 * written as the response. */
#ifndef MN_LUA_HTTP_H
#define MN_LUA_HTTP_H

#include "app.h"
#include "gen.h"
#include "http_server.h"

#include <lua.h>

/* Create the app's server from hooks.server (listen address, limits,
 * headers, static dir) and start listening. 0, or a negative code with a
 * message in *err (static storage). */
int lua_http_start(mn_app *a, mn_gen *g, const char **err);
/* Stop accepting; in-flight requests go on. */
void lua_http_stop_accepting(mn_app *a);
int lua_http_inflight(mn_app *a);
/* The listening port, or -1. */
int lua_http_port(mn_app *a);
/* Take the request out of the request handle at idx (a "nest.http.handle";
 * raises otherwise): the caller now answers it (e.g. http_request_upgrade)
 * and the handle reads as ended from here on. NULL when it already ended. */
http_request *lua_http_take_request(lua_State *L, int idx);

#endif
