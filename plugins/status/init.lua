-- plugins/status/init.lua — placeholder: the feature lands with its issue.
-- Enabled by default so the feature work only fills this file in.
return { name = "status", version = "0.0.0", priority = 0 }
