/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the configuration reader (config_parse). A file that
 * is accepted must write back (config_to_json) to a file that parses to an
 * equal configuration; every error message is one line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), err[1024] = "";
	struct config *cfg = NULL, *again = NULL;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (config_parse(text, "fuzz.json", &cfg, err, sizeof(err))) {
		if (strchr(err, '\n') || strncmp(err, "fuzz.json", 9))
			__builtin_trap();
	} else {
		char *js = config_to_json(cfg);

		if (!js || config_parse(js, "again.json", &again, err, sizeof(err)) || !config_equal(cfg, again))
			__builtin_trap();
		free(js);
	}
	config_free(again);
	config_free(cfg);
	free(text);
	return 0;
}
