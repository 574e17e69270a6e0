/* bind.h — the chores every C binding (core/lua_*.c) does the same way:
 * a userdata's metatable, and optional arguments read from an options
 * table. One copy each, so that every binding checks options alike and
 * says the same thing about a bad one.
 */
#ifndef MN_BIND_H
#define MN_BIND_H

#include <lauxlib.h>
#include <lua.h>

/* Create the metatable tname in the registry (once; later calls keep the
 * first): __index is a table of methods (may be NULL), meta the
 * metamethods (__gc, __close, __tostring; may be NULL). Leaves the stack
 * as it was. */
void bind_createmeta(lua_State *L, const char *tname, const luaL_Reg *methods,
                     const luaL_Reg *meta);

/* Options from the table at idx. An absent key, or idx not a table, gives
 * def; a value of the wrong type or out of range raises
 * "bad option '<k>' (...)". */
double bind_opt_number(lua_State *L, int idx, const char *k, double def);
lua_Integer bind_opt_integer(lua_State *L, int idx, const char *k, lua_Integer def,
                             lua_Integer min, lua_Integer max);
/* Seconds in (0, max_s], as whole milliseconds (at least 1). */
unsigned long bind_opt_ms(lua_State *L, int idx, const char *k, unsigned long def, double max_s);
int bind_opt_bool(lua_State *L, int idx, const char *k);
/* The string (kept alive by the table) or NULL; *len may be NULL. */
const char *bind_opt_string(lua_State *L, int idx, const char *k, size_t *len);

/* The same without raising, for C reading a table it built itself (the
 * hooks.server settings, read outside any protected call): anything but a
 * number gives def; anything but a string gives NULL. */
double bind_get_number(lua_State *L, int idx, const char *k, double def);
const char *bind_get_string(lua_State *L, int idx, const char *k);

#endif
