/* test_grammar_schema_logic.c - `not`, oneOf and unsatisfiable parts of JSON Schemas: for each
 * schema, texts the grammar must accept and texts it must reject (each decided by JSON
 * Schema's rules, noted beside it), and schemas that must be reported with a message naming
 * the problem. The matcher reads the text byte by byte (compact grammar, JSON Schema's
 * meaning of a missing additionalProperties). */
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "support/error.h"
#include "test.h"

static const struct {
    const char *schema, *text;
    int accept;
} cases[] = {
    /* not type: the other types */
    {"{\"not\":{\"type\":\"string\"}}", "1", 1},
    {"{\"not\":{\"type\":\"string\"}}", "null", 1},
    {"{\"not\":{\"type\":\"string\"}}", "\"a\"", 0},
    {"{\"type\":[\"string\",\"null\"],\"not\":{\"type\":\"null\"}}", "\"x\"", 1},
    {"{\"type\":[\"string\",\"null\"],\"not\":{\"type\":\"null\"}}", "null", 0},
    /* not enum/const of strings: any other string (an escape could spell the name: none is written) */
    {"{\"type\":\"string\",\"not\":{\"enum\":[\"a\",\"ab\"]}}", "\"a\"", 0},
    {"{\"type\":\"string\",\"not\":{\"enum\":[\"a\",\"ab\"]}}", "\"ab\"", 0},
    {"{\"type\":\"string\",\"not\":{\"enum\":[\"a\",\"ab\"]}}", "\"abc\"", 1},
    {"{\"type\":\"string\",\"not\":{\"enum\":[\"a\",\"ab\"]}}", "\"\"", 1},
    {"{\"type\":\"string\",\"not\":{\"enum\":[\"a\",\"ab\"]}}", "\"b\"", 1},
    {"{\"type\":\"string\",\"not\":{\"const\":\"\"}}", "\"\"", 0},
    {"{\"type\":\"string\",\"not\":{\"const\":\"\"}}", "\"q\"", 1},
    /* not const beside an enum: that value dropped */
    {"{\"enum\":[1,2,3],\"not\":{\"const\":2}}", "2", 0},
    {"{\"enum\":[1,2,3],\"not\":{\"const\":2}}", "3", 1},
    /* not a boolean value; not null */
    {"{\"type\":[\"boolean\",\"null\"],\"not\":{\"enum\":[true,null]}}", "false", 1},
    {"{\"type\":[\"boolean\",\"null\"],\"not\":{\"enum\":[true,null]}}", "true", 0},
    {"{\"type\":[\"boolean\",\"null\"],\"not\":{\"enum\":[true,null]}}", "null", 0},
    /* not a number value: above or below all of them (a subset) */
    {"{\"type\":\"integer\",\"not\":{\"enum\":[0,5]}}", "0", 0},
    {"{\"type\":\"integer\",\"not\":{\"enum\":[0,5]}}", "5", 0},
    {"{\"type\":\"integer\",\"not\":{\"enum\":[0,5]}}", "6", 1},
    {"{\"type\":\"integer\",\"not\":{\"enum\":[0,5]}}", "-1", 1},
    /* not required: the property absent (or not an object) */
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"not\":{\"required\":[\"a\"]}}", "{}", 1},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"not\":{\"required\":[\"a\"]}}", "{\"a\":1}", 0},
    {"{\"type\":\"object\",\"not\":{\"required\":[\"a\",\"b\"]}}", "{\"a\":1}", 1},
    {"{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"a\":{},\"b\":{}},\"not\":{\"required\":[\"a\",\"b\"]}}", "{\"a\":1,\"b\":2}", 0},
    {"{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"a\":{},\"b\":{}},\"not\":{\"required\":[\"a\",\"b\"]}}", "{\"b\":2}", 1},
    {"{\"not\":{\"required\":[\"a\"]}}", "7", 0}, /* 7 satisfies required (objects only), so not */
    {"{\"not\":{\"required\":[\"a\"]}}", "{\"b\":7}", 1},
    /* not properties: that property present with a value its schema rejects */
    {"{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"k\":{\"type\":\"integer\"}},\"not\":{\"properties\":{\"k\":{\"minimum\":10}}}}", "{\"k\":3}", 1},
    {"{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"k\":{\"type\":\"integer\"}},\"not\":{\"properties\":{\"k\":{\"minimum\":10}}}}", "{\"k\":12}", 0},
    {"{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"k\":{\"type\":\"integer\"}},\"not\":{\"properties\":{\"k\":{\"minimum\":10}}}}", "{}", 0},
    /* bounds: not minimum is below it, not maxLength is longer */
    {"{\"type\":\"integer\",\"not\":{\"minimum\":3}}", "2", 1},
    {"{\"type\":\"integer\",\"not\":{\"minimum\":3}}", "3", 0},
    {"{\"type\":\"string\",\"not\":{\"maxLength\":2}}", "\"abc\"", 1},
    {"{\"type\":\"string\",\"not\":{\"maxLength\":2}}", "\"ab\"", 0},
    {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"not\":{\"maxItems\":1}}", "[1]", 0},
    {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"not\":{\"maxItems\":1}}", "[1,2]", 1},
    /* not anyOf = neither; not allOf = not one of them; not not = itself */
    {"{\"type\":\"integer\",\"not\":{\"anyOf\":[{\"maximum\":0},{\"minimum\":10}]}}", "5", 1},
    {"{\"type\":\"integer\",\"not\":{\"anyOf\":[{\"maximum\":0},{\"minimum\":10}]}}", "0", 0},
    {"{\"type\":\"integer\",\"not\":{\"anyOf\":[{\"maximum\":0},{\"minimum\":10}]}}", "10", 0},
    {"{\"type\":\"integer\",\"not\":{\"allOf\":[{\"minimum\":0},{\"maximum\":10}]}}", "11", 1},
    {"{\"type\":\"integer\",\"not\":{\"allOf\":[{\"minimum\":0},{\"maximum\":10}]}}", "-1", 1},
    {"{\"type\":\"integer\",\"not\":{\"allOf\":[{\"minimum\":0},{\"maximum\":10}]}}", "4", 0},
    {"{\"not\":{\"not\":{\"type\":\"boolean\"}}}", "true", 1},
    {"{\"not\":{\"not\":{\"type\":\"boolean\"}}}", "1", 0},
    /* not {} (a forbidden property) and not through $ref */
    {"{\"type\":\"object\",\"properties\":{\"x\":{\"not\":{}},\"y\":{\"type\":\"null\"}}}", "{\"y\":null}", 1},
    {"{\"type\":\"object\",\"properties\":{\"x\":{\"not\":{}},\"y\":{\"type\":\"null\"}}}", "{\"x\":1,\"y\":null}", 0},
    {"{\"$defs\":{\"s\":{\"type\":\"string\"}},\"not\":{\"$ref\":\"#/$defs/s\"}}", "\"s\"", 0},
    {"{\"$defs\":{\"s\":{\"type\":\"string\"}},\"not\":{\"$ref\":\"#/$defs/s\"}}", "[]", 1},
    /* not propertyNames not enum: one of those keys present (fixture 032's form) */
    {"{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"},\"not\":{\"propertyNames\":{\"not\":{\"enum\":[\"p\",\"q\"]}}}}", "{\"q\":1}", 1},
    {"{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"},\"not\":{\"propertyNames\":{\"not\":{\"enum\":[\"p\",\"q\"]}}}}", "{}", 0},
    /* oneOf with disjoint branches: as anyOf */
    {"{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}", "3", 1},
    {"{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}", "\"3\"", 1},
    {"{\"oneOf\":[{\"type\":\"integer\",\"maximum\":5},{\"type\":\"integer\",\"minimum\":6}]}", "6", 1},
    {"{\"type\":\"object\",\"oneOf\":[{\"properties\":{\"k\":{\"const\":\"a\"}},\"required\":[\"k\"]},{\"properties\":{\"k\":{\"const\":\"b\"}},\"required\":[\"k\"]}]}", "{\"k\":\"b\"}", 1},
    /* overlapping branches made exclusive: exactly one of the names */
    {"{\"type\":\"object\",\"properties\":{\"f\":{\"type\":\"string\"},\"l\":{\"type\":\"string\"}},\"oneOf\":[{\"required\":[\"f\"]},{\"required\":[\"l\"]}]}", "{\"f\":\"x\"}", 1},
    {"{\"type\":\"object\",\"properties\":{\"f\":{\"type\":\"string\"},\"l\":{\"type\":\"string\"}},\"oneOf\":[{\"required\":[\"f\"]},{\"required\":[\"l\"]}]}", "{\"l\":\"y\"}", 1},
    {"{\"type\":\"object\",\"properties\":{\"f\":{\"type\":\"string\"},\"l\":{\"type\":\"string\"}},\"oneOf\":[{\"required\":[\"f\"]},{\"required\":[\"l\"]}]}", "{\"f\":\"x\",\"l\":\"y\"}", 0},
    {"{\"type\":\"object\",\"properties\":{\"f\":{\"type\":\"string\"},\"l\":{\"type\":\"string\"}},\"oneOf\":[{\"required\":[\"f\"]},{\"required\":[\"l\"]}]}", "{}", 0},
    /* an enum value the other branch's pattern rejects: disjoint */
    {"{\"oneOf\":[{\"type\":\"string\",\"pattern\":\"^[0-9]+$\"},{\"enum\":[\"any\"]}]}", "\"any\"", 1},
    {"{\"oneOf\":[{\"type\":\"string\",\"pattern\":\"^[0-9]+$\"},{\"enum\":[\"any\"]}]}", "\"12\"", 1},
    /* closed objects sharing no name: {} matches both, so it is invalid */
    {"{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"a\":{}},\"additionalProperties\":false},{\"type\":\"object\",\"properties\":{\"b\":{}},\"additionalProperties\":false}]}", "{}", 0},
    {"{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"a\":{}},\"additionalProperties\":false},{\"type\":\"object\",\"properties\":{\"b\":{}},\"additionalProperties\":false}]}", "{\"b\":1}", 1},
    /* unsatisfiable parts: an anyOf branch, an optional property, enum values of the wrong type */
    {"{\"anyOf\":[{\"type\":\"integer\",\"minimum\":5,\"maximum\":1},{\"type\":\"null\"}]}", "null", 1},
    {"{\"anyOf\":[{\"type\":\"integer\",\"minimum\":5,\"maximum\":1},{\"type\":\"null\"}]}", "3", 0},
    {"{\"type\":\"object\",\"properties\":{\"l\":{\"type\":\"string\",\"enum\":[1,2]}}}", "{}", 1},
    {"{\"type\":\"object\",\"properties\":{\"l\":{\"type\":\"string\",\"enum\":[1,2]}}}", "{\"l\":1}", 0},
    {"{\"type\":\"string\",\"enum\":[\"a\",1,\"b\"]}", "1", 0},
    {"{\"type\":\"string\",\"enum\":[\"a\",1,\"b\"]}", "\"b\"", 1},
    /* if/then/else: (if and then) or (not if and else) */
    {"{\"type\":\"integer\",\"if\":{\"minimum\":10},\"then\":{\"maximum\":20},\"else\":{\"maximum\":0}}", "15", 1},
    {"{\"type\":\"integer\",\"if\":{\"minimum\":10},\"then\":{\"maximum\":20},\"else\":{\"maximum\":0}}", "25", 0},
    {"{\"type\":\"integer\",\"if\":{\"minimum\":10},\"then\":{\"maximum\":20},\"else\":{\"maximum\":0}}", "-3", 1},
    {"{\"type\":\"integer\",\"if\":{\"minimum\":10},\"then\":{\"maximum\":20},\"else\":{\"maximum\":0}}", "5", 0},
    {"{\"type\":\"object\",\"properties\":{\"t\":{\"enum\":[\"a\",\"b\"]},\"x\":{\"type\":\"integer\"}},\"if\":{\"properties\":{\"t\":{\"const\":\"a\"}},\"required\":[\"t\"]},\"then\":{\"required\":[\"x\"]}}", "{\"t\":\"a\",\"x\":1}", 1},
    {"{\"type\":\"object\",\"properties\":{\"t\":{\"enum\":[\"a\",\"b\"]},\"x\":{\"type\":\"integer\"}},\"if\":{\"properties\":{\"t\":{\"const\":\"a\"}},\"required\":[\"t\"]},\"then\":{\"required\":[\"x\"]}}", "{\"t\":\"a\"}", 0},
    {"{\"type\":\"object\",\"properties\":{\"t\":{\"enum\":[\"a\",\"b\"]},\"x\":{\"type\":\"integer\"}},\"if\":{\"properties\":{\"t\":{\"const\":\"a\"}},\"required\":[\"t\"]},\"then\":{\"required\":[\"x\"]}}", "{\"t\":\"b\"}", 1},
    {"{\"type\":\"object\",\"properties\":{\"t\":{\"enum\":[\"a\",\"b\"]},\"x\":{\"type\":\"integer\"}},\"if\":{\"properties\":{\"t\":{\"const\":\"a\"}},\"required\":[\"t\"]},\"then\":{\"required\":[\"x\"]}}", "{}", 1},
    {"{\"then\":{\"type\":\"string\"}}", "1", 1}, /* then without if: nothing */
    /* multipleOf and not multipleOf: a remainder automaton */
    {"{\"type\":\"integer\",\"multipleOf\":7}", "-14", 1},
    {"{\"type\":\"integer\",\"multipleOf\":7}", "15", 0},
    {"{\"type\":\"integer\",\"multipleOf\":3,\"not\":{\"multipleOf\":4}}", "9", 1},
    {"{\"type\":\"integer\",\"multipleOf\":3,\"not\":{\"multipleOf\":4}}", "24", 0},
    {"{\"type\":\"integer\",\"multipleOf\":3,\"not\":{\"multipleOf\":4}}", "0", 0},
    {"{\"type\":\"integer\",\"not\":{\"not\":{\"multipleOf\":5}}}", "35", 1},
    {"{\"type\":\"integer\",\"not\":{\"anyOf\":[{\"multipleOf\":2},{\"multipleOf\":5}]}}", "21", 1},
    {"{\"type\":\"integer\",\"not\":{\"anyOf\":[{\"multipleOf\":2},{\"multipleOf\":5}]}}", "25", 0},
    /* a format whose values all fit the length bounds */
    {"{\"type\":\"string\",\"format\":\"date\",\"minLength\":10,\"maxLength\":10}", "\"2024-02-29\"", 1},
    {"{\"type\":\"string\",\"format\":\"uuid\",\"maxLength\":64}", "\"123e4567-e89b-12d3-a456-426614174000\"", 1},
    /* a required name that only patternProperties describes takes that schema */
    {"{\"type\":\"object\",\"patternProperties\":{\"^[0-9]$\":{\"type\":\"array\"}},\"additionalProperties\":false,\"required\":[\"3\"]}", "{\"3\":[]}", 1},
    {"{\"type\":\"object\",\"patternProperties\":{\"^[0-9]$\":{\"type\":\"array\"}},\"additionalProperties\":false,\"required\":[\"3\"]}", "{\"3\":1}", 0},
    /* maxProperties with only required named properties counts the extra ones */
    {"{\"type\":\"object\",\"properties\":{\"a\":{}},\"required\":[\"a\"],\"additionalProperties\":{\"type\":\"integer\"},\"maxProperties\":2}", "{\"a\":1,\"b\":2}", 1},
    {"{\"type\":\"object\",\"properties\":{\"a\":{}},\"required\":[\"a\"],\"additionalProperties\":{\"type\":\"integer\"},\"maxProperties\":2}", "{\"a\":1,\"b\":2,\"c\":3}", 0},
    /* a forbidden name that a pattern matches is subtracted from the pattern's keys (fixture 025) */
    {"{\"type\":\"object\",\"patternProperties\":{\"^d\":{}},\"not\":{\"required\":[\"docker\"]}}", "{\"dock\":1,\"dockers\":2}", 1},
    {"{\"type\":\"object\",\"patternProperties\":{\"^d\":{}},\"not\":{\"required\":[\"docker\"]}}", "{\"docker\":1}", 0},
    {"{\"type\":\"object\",\"patternProperties\":{\"^[a-z]+$\":{\"type\":\"integer\"}},\"additionalProperties\":false,\"properties\":{\"name\":false}}", "{\"nam\":1,\"names\":2}", 1},
    {"{\"type\":\"object\",\"patternProperties\":{\"^[a-z]+$\":{\"type\":\"integer\"}},\"additionalProperties\":false,\"properties\":{\"name\":false}}", "{\"name\":1}", 0},
    /* a named property takes the schemas of the patterns it matches too */
    {"{\"type\":\"object\",\"properties\":{\"ab\":{\"type\":\"string\"}},\"patternProperties\":{\"^a\":{\"maxLength\":2}}}", "{\"ab\":\"xy\"}", 1},
    {"{\"type\":\"object\",\"properties\":{\"ab\":{\"type\":\"string\"}},\"patternProperties\":{\"^a\":{\"maxLength\":2}}}", "{\"ab\":\"xyz\"}", 0},
    /* a key matching two patterns takes both schemas; one matching none, additionalProperties */
    {"{\"type\":\"object\",\"patternProperties\":{\"^a\":{\"type\":\"integer\"},\"b$\":{\"minimum\":5}},\"additionalProperties\":false}", "{\"ab\":7,\"a\":3,\"b\":9}", 1},
    {"{\"type\":\"object\",\"patternProperties\":{\"^a\":{\"type\":\"integer\"},\"b$\":{\"minimum\":5}},\"additionalProperties\":false}", "{\"ab\":3}", 0},
    {"{\"type\":\"object\",\"patternProperties\":{\"^a\":{\"type\":\"integer\"},\"b$\":{\"minimum\":5}},\"additionalProperties\":false}", "{\"c\":1}", 0},
    {"{\"type\":\"object\",\"patternProperties\":{\"^x-\":{\"type\":\"string\"}},\"additionalProperties\":{\"type\":\"integer\"}}", "{\"x-a\":\"s\",\"y\":1}", 1},
    {"{\"type\":\"object\",\"patternProperties\":{\"^x-\":{\"type\":\"string\"}},\"additionalProperties\":{\"type\":\"integer\"}}", "{\"y\":\"s\"}", 0},
    {"{\"type\":\"object\",\"patternProperties\":{\"^x-\":{\"type\":\"string\"}},\"additionalProperties\":{\"type\":\"integer\"}}", "{\"x-a\":1}", 0},
    /* patterns a string must not match, several patterns, excluded strings with a pattern: exact DFAs */
    {"{\"type\":\"string\",\"not\":{\"pattern\":\"^a\"}}", "\"ba\"", 1},
    {"{\"type\":\"string\",\"not\":{\"pattern\":\"^a\"}}", "\"ab\"", 0},
    {"{\"oneOf\":[{\"type\":\"string\",\"pattern\":\"^a\"},{\"type\":\"string\",\"pattern\":\"b$\"}]}", "\"ax\"", 1},
    {"{\"oneOf\":[{\"type\":\"string\",\"pattern\":\"^a\"},{\"type\":\"string\",\"pattern\":\"b$\"}]}", "\"xb\"", 1},
    {"{\"oneOf\":[{\"type\":\"string\",\"pattern\":\"^a\"},{\"type\":\"string\",\"pattern\":\"b$\"}]}", "\"ab\"", 0},
    {"{\"type\":\"string\",\"if\":{\"pattern\":\"^a\"},\"then\":{\"maxLength\":3}}", "\"abc\"", 1},
    {"{\"type\":\"string\",\"if\":{\"pattern\":\"^a\"},\"then\":{\"maxLength\":3}}", "\"abcd\"", 0},
    {"{\"type\":\"string\",\"if\":{\"pattern\":\"^a\"},\"then\":{\"maxLength\":3}}", "\"bbcd\"", 1},
    {"{\"allOf\":[{\"type\":\"string\",\"pattern\":\"^[a-z]+$\"},{\"pattern\":\"x\"}]}", "\"axb\"", 1},
    {"{\"allOf\":[{\"type\":\"string\",\"pattern\":\"^[a-z]+$\"},{\"pattern\":\"x\"}]}", "\"ab\"", 0},
    {"{\"allOf\":[{\"type\":\"string\",\"pattern\":\"^[a-z]+$\"},{\"pattern\":\"x\"}]}", "\"aXb\"", 0},
    {"{\"type\":\"string\",\"pattern\":\"^[a-c]+$\",\"minLength\":2,\"not\":{\"enum\":[\"ab\"]}}", "\"ba\"", 1},
    {"{\"type\":\"string\",\"pattern\":\"^[a-c]+$\",\"minLength\":2,\"not\":{\"enum\":[\"ab\"]}}", "\"ab\"", 0},
    {"{\"type\":\"string\",\"pattern\":\"^[a-c]+$\",\"minLength\":2,\"not\":{\"enum\":[\"ab\"]}}", "\"a\"", 0},
    {"{\"type\":\"string\",\"not\":{\"pattern\":\"^.*$\"}}", "\"a\\n\"", 0},
    /* a format the grammar writes and a pattern: both hold (the format as a DFA too) */
    {"{\"type\":\"string\",\"format\":\"date\",\"pattern\":\"^[0-9]{4}-[0-9]{2}-[0-9]{2}$\"}", "\"2024-02-29\"", 1},
    {"{\"type\":\"string\",\"format\":\"date\",\"pattern\":\"^[0-9]{4}-[0-9]{2}-[0-9]{2}$\"}", "\"2023-02-29\"", 0},
    {"{\"type\":\"string\",\"format\":\"date\",\"pattern\":\"^[0-9]{4}-[0-9]{2}-[0-9]{2}$\"}", "\"2023-99-99\"", 0},
    {"{\"type\":\"string\",\"format\":\"email\",\"pattern\":\"@example\\\\.com$\"}", "\"a.b@example.com\"", 1},
    {"{\"type\":\"string\",\"format\":\"email\",\"pattern\":\"@example\\\\.com$\"}", "\"a.b@example.org\"", 0},
    {"{\"type\":\"string\",\"format\":\"ipv4\",\"maxLength\":8}", "\"10.0.0.1\"", 1},
    {"{\"type\":\"string\",\"format\":\"ipv4\",\"maxLength\":8}", "\"10.0.0.10\"", 0},
    {"{\"type\":\"string\",\"format\":\"email\",\"maxLength\":20}", "\"a@b.co\"", 1},
    {"{\"type\":\"string\",\"format\":\"email\",\"maxLength\":20}", "\"abcdefghijk@bcdef.com\"", 0},
    /* propertyNames: the keys as a DFA; named properties outside it may not appear */
    {"{\"type\":\"object\",\"propertyNames\":{\"pattern\":\"^[a-z]+$\",\"maxLength\":3},\"additionalProperties\":{\"type\":\"integer\"}}", "{\"abc\":1,\"x\":2}", 1},
    {"{\"type\":\"object\",\"propertyNames\":{\"pattern\":\"^[a-z]+$\",\"maxLength\":3},\"additionalProperties\":{\"type\":\"integer\"}}", "{\"abcd\":1}", 0},
    {"{\"type\":\"object\",\"propertyNames\":{\"pattern\":\"^[a-z]+$\",\"maxLength\":3},\"additionalProperties\":{\"type\":\"integer\"}}", "{\"aB\":1}", 0},
    {"{\"type\":\"object\",\"propertyNames\":{\"pattern\":\"^[a-z]+$\",\"maxLength\":3},\"additionalProperties\":{\"type\":\"integer\"}}", "{\"ab\":\"s\"}", 0},
    {"{\"type\":\"object\",\"properties\":{\"ok\":{\"type\":\"string\"},\"BAD\":{\"type\":\"string\"}},\"propertyNames\":{\"pattern\":\"^[a-z]+$\"}}", "{\"ok\":\"s\"}", 1},
    {"{\"type\":\"object\",\"properties\":{\"ok\":{\"type\":\"string\"},\"BAD\":{\"type\":\"string\"}},\"propertyNames\":{\"pattern\":\"^[a-z]+$\"}}", "{\"BAD\":\"s\"}", 0},
    {"{\"type\":\"object\",\"propertyNames\":{\"not\":{\"enum\":[\"x\",\"y\"]}},\"patternProperties\":{\"^[xyz]$\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"z\":1}", 1},
    {"{\"type\":\"object\",\"propertyNames\":{\"not\":{\"enum\":[\"x\",\"y\"]}},\"patternProperties\":{\"^[xyz]$\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"x\":1}", 0},
    {"{\"type\":\"object\",\"propertyNames\":{\"not\":{\"enum\":[\"x\",\"y\"]}},\"patternProperties\":{\"^[xyz]$\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"w\":1}", 0},
    {"{\"type\":\"object\",\"propertyNames\":{\"$ref\":\"#/$defs/id\"},\"$defs\":{\"id\":{\"type\":\"string\",\"pattern\":\"^[0-9]+$\"}}}", "{\"12\":true}", 1},
    {"{\"type\":\"object\",\"propertyNames\":{\"$ref\":\"#/$defs/id\"},\"$defs\":{\"id\":{\"type\":\"string\",\"pattern\":\"^[0-9]+$\"}}}", "{\"a\":true}", 0},
    {"{\"type\":\"object\",\"propertyNames\":{\"anyOf\":[{\"const\":\"a\"},{\"pattern\":\"^b.$\"}]}}", "{\"a\":1,\"bc\":2}", 1},
    {"{\"type\":\"object\",\"propertyNames\":{\"anyOf\":[{\"const\":\"a\"},{\"pattern\":\"^b.$\"}]}}", "{\"c\":1}", 0},
    /* a negative lookahead at the start of a pattern: ^R less what starts with X */
    {"{\"type\": \"string\", \"pattern\": \"^(?!org\\\\.bukkit\\\\.)[a-z.]+$\"}", "\"org.foo\"", 1},
    {"{\"type\": \"string\", \"pattern\": \"^(?!org\\\\.bukkit\\\\.)[a-z.]+$\"}", "\"org.bukkit.x\"", 0},
    {"{\"type\": \"string\", \"pattern\": \"^(?!org\\\\.bukkit\\\\.)[a-z.]+$\"}", "\"ORG\"", 0},
    {"{\"type\": \"string\", \"pattern\": \"^(?![ \\\\t]*\\\\(default)[\\\\s\\\\S]*\"}", "\"(defaul\"", 1},
    {"{\"type\": \"string\", \"pattern\": \"^(?![ \\\\t]*\\\\(default)[\\\\s\\\\S]*\"}", "\" \\t(default x\"", 0},
    {"{\"type\": \"string\", \"pattern\": \"^(?![ \\\\t]*\\\\(default)[\\\\s\\\\S]*\"}", "\"x (default\"", 1},
    /* an unknown format is an annotation; the lengths beside it hold */
    {"{\"type\":\"string\",\"format\":\"password\",\"minLength\":3}", "\"abc\"", 1},
    {"{\"type\":\"string\",\"format\":\"password\",\"minLength\":3}", "\"\"", 0},
};

static const struct {
    const char *schema, *error;
} reported[] = {
    /* every value matches both branches, so oneOf allows none */
    {"{\"type\":\"object\",\"oneOf\":[{\"properties\":{\"a\":{}}},{\"properties\":{\"b\":{}}}]}", "allows a value"},
    /* complements not built */
    {"{\"type\":\"array\",\"not\":{\"items\":{\"type\":\"string\"}}}", "'not' with 'items'"},
    {"{\"not\":{\"enum\":[{\"a\":1}]}}", "'not' with an object"},
    /* if/then/else whose "if" has no complement here */
    {"{\"type\":\"array\",\"if\":{\"items\":{\"type\":\"string\"}},\"then\":{\"maxItems\":3}}", "if/then/else: where 'if' fails"},
    /* a format the grammar cannot write */
    {"{\"type\":\"string\",\"format\":\"hostname\",\"pattern\":\"^a\"}", "unsupported format 'hostname'"},
    /* lengths that leave no date */
    {"{\"type\":\"string\",\"format\":\"date\",\"maxLength\":9}", "no string matches"},
    /* a required name propertyNames rules out */
    {"{\"type\":\"object\",\"required\":[\"ABC\"],\"propertyNames\":{\"pattern\":\"^[a-z]+$\"}}", "not allowed by propertyNames"},
    /* overlapping oneOf branches whose exclusions multiply out: a bounded error, not a hang */
    {"{\"type\":\"array\",\"items\":{\"oneOf\":[{\"properties\":{\"assert\":{\"enum\":[\"v0\"]},\"message\":{\"type\":\"string\"}}},{\"properties\":{\"assert\":{\"enum\":[\"v1\"]},\"message\":{\"type\":\"string\"}}},{\"properties\":{\"assert\":{\"enum\":[\"v2\"]},\"message\":{\"type\":\"string\"}}},{\"properties\":{\"assert\":{\"enum\":[\"v3\"]},\"message\":{\"type\":\"string\"}}},{\"properties\":{\"assert\":{\"enum\":[\"v4\"]},\"message\":{\"type\":\"string\"}}},{\"properties\":{\"assert\":{\"enum\":[\"v5\"]},\"message\":{\"type\":\"string\"}}},{\"properties\":{\"assert\":{\"enum\":[\"v6\"]},\"message\":{\"type\":\"string\"}}},{\"properties\":{\"assert\":{\"enum\":[\"v7\"]},\"message\":{\"type\":\"string\"}}},{\"properties\":{\"assert\":{\"enum\":[\"v8\"]},\"message\":{\"type\":\"string\"}}},{\"properties\":{\"assert\":{\"enum\":[\"v9\"]},\"message\":{\"type\":\"string\"}}},{\"properties\":{\"assert\":{\"enum\":[\"v10\"]},\"message\":{\"type\":\"string\"}}},{\"properties\":{\"assert\":{\"enum\":[\"v11\"]},\"message\":{\"type\":\"string\"}}},{\"properties\":{\"assert\":{\"enum\":[\"v12\"]},\"message\":{\"type\":\"string\"}}},{\"properties\":{\"assert\":{\"enum\":[\"v13\"]},\"message\":{\"type\":\"string\"}}}]}}", "too large"},
    /* counts written as reals beyond int64: reported, not cast */
    {"{\"type\":\"string\",\"maxLength\":1e300}", "'maxLength' is out of range"},
    {"{\"type\":\"array\",\"minItems\":-1e300}", "'minItems' is out of range"},
    /* nothing allowed at all */
    {"{\"type\":\"integer\",\"not\":{\"type\":\"integer\"}}", "allows no value"},
    {"{\"not\":{}}", "allows no value"},
};

static int accepts(const char *schema, const char *text) {
    mlcc_grammar_options opt = mlcc_grammar_default_options();
    opt.strict_properties = 0;
    mlcc_grammar *g = mlcc_grammar_from_json_schema(schema, strlen(schema), &opt);
    if (!g) {
        CHECK_MSG(0, "%s: %s", schema, mlcc_last_error());
        return -1;
    }
    const char *toks[256];
    char bytes[256];
    size_t lens[256];
    for (int i = 0; i < 256; i++) {
        bytes[i] = (char)i;
        toks[i] = &bytes[i];
        lens[i] = 1;
    }
    mlcc_grammar_vocab *v = mlcc_grammar_vocab_from_bytes(toks, lens, 256, NULL, 0);
    mlcc_grammar_matcher *m = mlcc_grammar_matcher_new(g, v);
    int ok = mlcc_grammar_accept_bytes(m, text, strlen(text)) == 0 && mlcc_grammar_can_terminate(m);
    mlcc_grammar_matcher_free(m);
    mlcc_grammar_vocab_free(v);
    mlcc_grammar_free(g);
    return ok;
}

int main(void) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int ok = accepts(cases[i].schema, cases[i].text);
        if (ok >= 0)
            CHECK_MSG(ok == cases[i].accept, "%s: %s should be %s", cases[i].schema, cases[i].text,
                      cases[i].accept ? "accepted" : "rejected");
    }
    for (size_t i = 0; i < sizeof reported / sizeof reported[0]; i++) {
        mlcc_grammar *g = mlcc_grammar_from_json_schema(reported[i].schema, strlen(reported[i].schema), NULL);
        CHECK_MSG(g == NULL, "%s should be reported", reported[i].schema);
        if (!g) CHECK_MSG(strstr(mlcc_last_error(), reported[i].error) != NULL, "%s: got '%s', expected '%s'", reported[i].schema, mlcc_last_error(), reported[i].error);
        mlcc_grammar_free(g);
    }
    return test_finish();
}
