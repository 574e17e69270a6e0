-- plugins/rum/pages.lua — the page labels RUM reports may carry: the web
-- UI's pages. static/src/routes.js PAGE_KEYS is the owner of the list;
-- spec/plugins/rum_admin_spec.lua fails when the two differ.
return { ["/"] = true, ["/library"] = true, ["/requests"] = true, ["/youtube"] = true,
         ["/admin"] = true, ["/settings"] = true, ["/signin"] = true, ["/setup"] = true }
