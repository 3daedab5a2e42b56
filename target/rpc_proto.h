/* SPDX-License-Identifier: MIT */
/*
 * The control socket's protocol, without the socket (rpc_proto.c): parsing
 * a request line, formatting a response line, and the configuration edits
 * the changing methods make on a JSON copy of the running configuration.
 * Pure JSON work, so it can be fuzzed on its own (tests/fuzz/fuzz_rpc.c).
 */
#ifndef TARGET_RPC_PROTO_H
#define TARGET_RPC_PROTO_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#define RPC_MAX_REQUEST (1u << 20)

enum {
	RPC_PARSE = -32700,
	RPC_INVALID = -32600,
	RPC_NO_METHOD = -32601,
	RPC_BAD_PARAMS = -32602,
	RPC_REFUSED = -32000,
};

struct rpc_request {
	json_object *root;            /* owns the rest */
	const char *method;
	json_object *params;          /* NULL when absent */
	json_object *id;              /* NULL when absent */
};

/* One request: exactly one JSON object in line[0..len) (whitespace around
 * it allowed, nothing else), with a string "method". 0, or a JSON-RPC
 * error code with a one-line reason in msg; req->root (to put) may then
 * still hold the parsed text so the answer can carry its id. */
int rpc_parse_request(const char *line, size_t len, struct rpc_request *req, char *msg, size_t msglen);
void rpc_request_free(struct rpc_request *req);

/* The response line, without the newline: result (consumed, may be NULL
 * for {}) when code is 0, else the error object. malloc'd, NULL on
 * allocation failure. */
char *rpc_format_response(json_object *id, int code, const char *msg, json_object *result);

/* The configuration edit a changing method makes, or NULL when method is
 * not one. fn edits root (a JSON copy of the running configuration) from
 * params; 0, or an error code with the reason in msg. *result (may stay
 * NULL) is what the method answers on success. */
typedef int (*rpc_edit_fn)(json_object *root, json_object *params, json_object **result, char *msg,
			   size_t msglen);
rpc_edit_fn rpc_find_edit(const char *method);

#endif
