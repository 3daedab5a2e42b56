# libFuzzer harnesses (included by the top-level Makefile).
#
#   make fuzz          each harness for FUZZ_SECS (default 300) seconds on a
#                      scratch copy of its seed corpus; crashes are kept
#   make fuzz-check    (part of make check) replay every committed input once,
#                      then FUZZ_CHECK_SECS (default 20) seconds of fuzzing each
#
# A harness is tests/fuzz/fuzz_<name>.c with its seeds in
# tests/fuzz/corpus/<name>/; add <name> to FUZZ_NAMES (and its -max_len to
# tests/fuzz/run.sh). The library is built again with clang and
# -fsanitize=fuzzer-no-link,address,undefined into $(BUILD)/fuzz/.
# Reproduce a crash:  $(BUILD)/fuzz/fuzz_<name> CRASH_FILE
# Regenerate the PDU and engine seeds:  $(BUILD)/fuzz-gen-seeds tests/fuzz/corpus
FUZZ_CC      ?= clang
FUZZ_NAMES   := pdu tcp_engine config rpc
FUZZ_SECS    ?= 300
FUZZ_CHECK_SECS ?= 20
FUZZ_SAN     := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=gnu11 -g -O1 -Wall -Wextra -Werror -Wno-unused-parameter -pthread $(FUZZ_SAN)
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/fuzz/obj/%.o) $(BUILD)/fuzz/obj/tests/support/pdu_build.o
FUZZ_BINS    := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/fuzz/libfuzzlib.a: $(FUZZ_LIB_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/fuzz/fuzz_%: $(BUILD)/fuzz/obj/tests/fuzz/fuzz_%.o $(BUILD)/fuzz/libfuzzlib.a
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

# the seed writer is an ordinary program of the normal build
$(BUILD)/fuzz-gen-seeds: $(BUILD)/obj/tests/fuzz/gen_seeds.o $(BUILD)/obj/tests/support/pdu_build.o $(BUILD)/libnvmfb.a
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

.PHONY: fuzz fuzz-check fuzz-build
fuzz-build:
	$(Q)command -v $(FUZZ_CC) > /dev/null || { echo "fuzz: $(FUZZ_CC) not found: tests/install-deps.sh installs clang and libclang-rt-14-dev"; exit 1; }
	$(Q)$(MAKE) --no-print-directory $(FUZZ_BINS)

fuzz: fuzz-build
	$(Q)tests/fuzz/run.sh long $(FUZZ_SECS) $(BUILD)/fuzz $(FUZZ_NAMES)

fuzz-check: fuzz-build
	$(Q)tests/fuzz/run.sh check $(FUZZ_CHECK_SECS) $(BUILD)/fuzz $(FUZZ_NAMES)
