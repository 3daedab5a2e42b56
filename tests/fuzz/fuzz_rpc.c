/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the control socket's protocol (target/rpc_proto.c).
 * Each input is one request line: parsed, and when it names a change, the
 * change is made on a JSON copy of a fixed configuration and the result
 * validated by config_parse, as the daemon does before applying it; the
 * answer line is formatted either way.
 *
 * Oracles besides the sanitizers: an answer is one line of valid JSON with
 * "jsonrpc":"2.0" and exactly one of result/error; an error message, once
 * decoded, has no control character (it may quote what the client sent,
 * and a client prints it).
 */
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "target/rpc_proto.h"

static const char base_config[] =
	"{\"ports\": [{\"portid\": 1, \"addr\": {\"trtype\": \"tcp\", \"adrfam\": \"ipv4\", \"traddr\": \"127.0.0.1\","
	"  \"trsvcid\": \"4420\"}, \"subsystems\": [\"nqn.2024-01.org.example:a\"]}],"
	" \"subsystems\": [{\"nqn\": \"nqn.2024-01.org.example:a\", \"attr\": {\"allow_any_host\": \"1\"},"
	"  \"namespaces\": [{\"nsid\": 1, \"device\": {\"mem\": \"1MiB\"}}]}]}";

static void check_printable(const char *s, const char *what)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f) {
			fprintf(stderr, "fuzz_rpc: %s has a control character\n", what);
			__builtin_trap();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rpc_request req;
	json_object *result = NULL, *resp, *v;
	char msg[1024] = "";
	char *line;
	int code;

	code = rpc_parse_request((const char *)data, size, &req, msg, sizeof(msg));
	if (!code) {
		rpc_edit_fn fn = rpc_find_edit(req.method);

		if (fn && req.params && json_object_is_type(req.params, json_type_object)) {
			json_object *root = json_tokener_parse(base_config);
			struct config *cfg = NULL;

			code = fn(root, req.params, &result, msg, sizeof(msg));
			if (!code && config_parse(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN), "fuzz.json",
						  &cfg, msg, sizeof(msg)))
				code = RPC_REFUSED;
			config_free(cfg);
			json_object_put(root);
		}
	}
	line = rpc_format_response(req.id, code, msg, result);
	if (!line)
		__builtin_trap();
	/* one line (the id is the client's own and echoed as it came) */
	if (strchr(line, '\n'))
		__builtin_trap();
	resp = json_tokener_parse(line);
	if (!resp || !json_object_object_get_ex(resp, "jsonrpc", &v) ||
	    json_object_object_get_ex(resp, "result", &v) == json_object_object_get_ex(resp, "error", &v))
		__builtin_trap();
	if (json_object_object_get_ex(resp, "error", &v) && json_object_object_get_ex(v, "message", &v))
		check_printable(json_object_get_string(v), "an error message");
	json_object_put(resp);
	free(line);
	rpc_request_free(&req);
	return 0;
}
