/* app_http.h — the app's HTTP server: built from hooks.server, each request
 * a task running the generation's dispatch hook (app_http.c). */
#ifndef MN_APP_HTTP_H
#define MN_APP_HTTP_H

#include "app.h"
#include "gen.h"

/* Create the app's server from hooks.server (listen address, limits,
 * headers, static dir) and start listening. 0, or a negative code with a
 * message in *err (static storage). */
int app_http_start(mn_app *a, mn_gen *g, const char **err);
/* Stop accepting; in-flight requests go on. */
void app_http_stop_accepting(mn_app *a);
int app_http_inflight(mn_app *a);
/* The listening port, or -1. */
int app_http_port(mn_app *a);

#endif
