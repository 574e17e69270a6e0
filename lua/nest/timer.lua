-- nest/timer.lua — sleep, at, every (see core/lua_timer.c).
return require "nest.core.timer"
