-- spec/unit/json_spec.lua — nest.json: cjson with null, empty arrays and integers.
local json = require "nest.json"

describe("nest.json", function()
  describe("decode", function()
    it("decodes objects, arrays, strings, booleans and numbers", function()
      local v = json.decode('{"s":"x","a":[1,2,3],"t":true,"f":false,"o":{"k":"v"}}')
      assert.same({ s = "x", a = { 1, 2, 3 }, t = true, f = false, o = { k = "v" } }, v)
    end)

    it("yields integers for integral numbers and floats for the rest", function()
      local v = json.decode('{"id":603,"neg":-7,"exp":1e3,"r":7.5,"ms":1700000000123}')
      assert.equal("integer", math.type(v.id))
      assert.equal("603", tostring(v.id))
      assert.equal("integer", math.type(v.neg))
      assert.equal("integer", math.type(v.exp))
      assert.equal(1000, v.exp)
      assert.equal("float", math.type(v.r))
      assert.equal(1700000000123, v.ms)
      assert.equal("integer", math.type(json.decode("42")))
    end)

    it("yields json.null for JSON null", function()
      local v = json.decode('{"a":null,"b":[null,1]}')
      assert.equal(json.null, v.a)
      assert.equal(json.null, v.b[1])
      assert.equal(json.null, json.decode("null"))
    end)

    it("returns nil and a message for malformed text instead of raising", function()
      for _, bad in ipairs({ "", "{", "{bad}", "[1,]", "[[],]", "{\"a\":1} x", "NaN", "[Infinity]",
                             "0x10", "'single'", "\"unterminated" }) do
        local v, err = json.decode(bad)
        assert.is_nil(v, bad)
        assert.matches("^invalid JSON", err, 1, false, bad)
      end
    end)

    it("reports error positions in the caller's text even when it contains []", function()
      local _, err = json.decode('[[],,]')
      assert.matches("character 5", err)
    end)

    it("returns nil, err for a non-string argument", function()
      local v, err = json.decode(nil)
      assert.is_nil(v)
      assert.matches("expected a string", err)
      assert.is_nil((json.decode({})))
    end)

    it("refuses nesting deeper than MAX_DEPTH without raising", function()
      local v, err = json.decode(string.rep("[", 100000))
      assert.is_nil(v)
      assert.matches("nested", err)
      assert.is_table(json.decode(string.rep("[", 100) .. string.rep("]", 100)))
    end)

    it("keeps [] and {} in strings untouched", function()
      local v = json.decode('{"a":"x[]y","b":"[ ]","c":"{}","d":"\\"[]\\\\","e":[],"k[]":1}')
      assert.equal("x[]y", v.a)
      assert.equal("[ ]", v.b)
      assert.equal("{}", v.c)
      assert.equal('"[]\\', v.d)
      assert.equal(1, v["k[]"])
      assert.equal("[]", json.decode('"[]"'))
    end)
  end)

  describe("encode", function()
    it("encodes scalars and nested tables", function()
      assert.equal('"x"', json.encode("x"))
      assert.equal("true", json.encode(true))
      assert.equal("null", json.encode(json.null))
      assert.equal("[1,2,3]", json.encode({ 1, 2, 3 }))
      assert.equal('{"a":{"b":[true]}}', json.encode({ a = { b = { true } } }))
    end)

    it("writes integers exactly and floats without noise", function()
      assert.equal("99.9", json.encode(99.9))
      assert.equal("0.3", json.encode(0.1 + 0.2))
      assert.equal("42", json.encode(42))
      assert.equal("1700000000123", json.encode(1700000000123))
      assert.equal("12345678901234567", json.encode(12345678901234567))
      assert.equal("[9223372036854775807,-9223372036854775808]",
        json.encode({ math.maxinteger, math.mininteger }))
      assert.equal('{"n":123456789012345678}', json.encode({ n = 123456789012345678 }))
    end)

    it("leaves the value it encoded unchanged", function()
      local arr = json.array()
      local v = { n = 123456789012345678, list = arr, nested = { big = -99999999999999999 } }
      json.encode(v)
      assert.equal(123456789012345678, v.n)
      assert.equal(-99999999999999999, v.nested.big)
      assert.is_nil(next(arr))
    end)

    it("encodes NaN and infinities as null", function()
      assert.equal("[null,null,null]", json.encode({ 0 / 0, math.huge, -math.huge }))
    end)

    it("encodes an empty plain table as {}", function()
      assert.equal("{}", json.encode({}))
    end)

    it("encodes json.empty_array and tables marked by json.array as []", function()
      assert.equal("[]", json.encode(json.empty_array))
      assert.equal("[]", json.encode(json.array()))
      -- key order of a Lua table is unspecified: check each member's text
      local both = json.encode({ a = json.empty_array, b = json.array({}) })
      assert.truthy(both:find('"a":[]', 1, true) and both:find('"b":[]', 1, true))
      assert.equal("[[],[[]]]", json.encode({ json.array(), { json.empty_array } }))
    end)

    it("encodes a marked table with its elements once it has some", function()
      local list = json.array()
      list[#list + 1] = "x"
      assert.equal('["x"]', json.encode(list))
      assert.is_true(json.is_array(list))
    end)

    it("marks tables that already have a metatable of their own", function()
      local t = json.array(setmetatable({}, { __index = function() return 1 end }))
      assert.equal("[]", json.encode(t))
      assert.equal("{}", json.encode(setmetatable({}, {})))
    end)

    it("refuses to let json.empty_array be filled", function()
      assert.has_error(function() json.empty_array[1] = 1 end)
      assert.is_nil(next(json.empty_array))
    end)

    it("encodes excessively sparse arrays as objects instead of raising", function()
      assert.equal("[1,null,3]", json.encode({ [1] = 1, [3] = 3 }))
      assert.equal('{"1000":true}', json.encode({ [1000] = true }))
    end)

    it("raises, naming the module, for functions and cycles", function()
      assert.has_error(function() json.encode({ f = print }) end,
        "nest.json.encode: Cannot serialise function: type not supported")
      local t = {}
      t.self = t
      local ok, err = pcall(json.encode, t)
      assert.is_false(ok)
      assert.matches("nest.json.encode: .*nesting", err)
      local fan = {}
      fan.a, fan.b, fan.c = fan, fan, fan  -- must fail fast, not walk 3^128 paths
      assert.is_false((pcall(json.encode, fan)))
    end)
  end)

  describe("round trip", function()
    it("keeps empty arrays as arrays and empty objects as objects", function()
      local text = '{"results":[],"meta":{},"nested":[[],{"k":[]}]}'
      local v = json.decode(text)
      assert.is_true(json.is_array(v.results))
      assert.equal(0, #v.results)
      assert.is_false(json.is_array(v.meta))
      assert.same(json.decode(text), json.decode(json.encode(v)))
      assert.equal('[]', json.encode(v.results))
      assert.equal('{}', json.encode(v.meta))
      assert.equal('[[],{"k":[]}]', json.encode(v.nested))
      assert.equal("[]", json.encode(json.decode("[]")))
    end)

    it("keeps empty arrays from pretty-printed text", function()
      local v = json.decode('{\n  "a": [ ],\n  "b": [\n    1,\n    [\n    ]\n  ],\n  "s": "[ ]"\n}')
      assert.equal('[]', json.encode(v.a))
      assert.equal('[1,[]]', json.encode(v.b))
      assert.equal("[ ]", v.s)
    end)

    it("lets a decoded empty array be appended to", function()
      local v = json.decode('{"items":[]}')
      table.insert(v.items, { id = 1 })
      assert.equal('{"items":[{"id":1}]}', json.encode(v))
    end)

    it("keeps unicode text", function()
      local s = "Amélie — 😀"
      assert.equal(s, json.decode(json.encode(s)))
      assert.equal("😀", json.decode('"\\ud83d\\ude00"'))
    end)
  end)
end)
