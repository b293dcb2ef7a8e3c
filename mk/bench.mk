# Benchmarks (issues 8 and 13), included by the Makefile.
#
#   make bench        every part of `python -m companion.bench all --jobs $(BENCH_JOBS)` (companion.bench.PART_FILES):
#                     scale, cost, compare, the chapters' stored runs (inverse_chapter, hig_chapter,
#                     discussion), the training benchmarks (companion.bench_sip, companion.bench_hig) and the
#                     training summary; writes JSON + PNG into $(BENCH_OUT) and all.json with the run time of
#                     every part, then the sweeps of "Your own simulator" (make bench-own-simulator).  From a
#                     fresh clone it regenerates every committed result the chapters read.  Commit the results
#                     and re-execute the chapters that
#                     read them: `python -m companion.bench check` lists them (results_file(...) in book/*.ipynb)
#                     with the part that writes each, and fails if one has no writer.
#   make bench-quick  the same with reduced sizes into $(BENCH_QUICK_OUT), under a minute
#                     (a smoke test; it never touches the committed results)
#   make bench-own-simulator
#                     the sweeps of the chapter "Your own simulator" (tools/own_simulator_bench.py ->
#                     bench_results/own_simulator.json), about 6 minutes in two processes; make bench runs it
#                     after the parts of `all`, since it is an executed copy of the chapter's simulator cell.
#
# One part alone: $(BIN)/python -m companion.bench scale|cost|training|compare|discussion|hig_chapter|inverse_chapter
#                 [--quick] [--out DIR];  `training --stored` only summarises the stored training results.

.PHONY: bench bench-quick bench-check bench-own-simulator

BENCH_OUT       ?= bench_results
BENCH_QUICK_OUT ?= _build/bench-quick
BENCH_JOBS      ?= 2

bench: $(STAMP)
	@t0=$$(date +%s); \
	MPLBACKEND=Agg $(BIN)/python -m companion.bench all --jobs $(BENCH_JOBS) --out $(BENCH_OUT); \
	t1=$$(date +%s); \
	$(MAKE) --no-print-directory bench-own-simulator; \
	t2=$$(date +%s); \
	echo "== make bench took $$((t2 - t0)) s (own simulator $$((t2 - t1)) s); results in $(BENCH_OUT)/"; \
	$(BIN)/python -m companion.bench check

bench-quick: $(STAMP)
	@t0=$$(date +%s); \
	MPLBACKEND=Agg $(BIN)/python -m companion.bench all --quick --jobs $(BENCH_JOBS) --out $(BENCH_QUICK_OUT); \
	t1=$$(date +%s); \
	echo "== make bench-quick took $$((t1 - t0)) s; results in $(BENCH_QUICK_OUT)/"

bench-check: $(STAMP)
	$(BIN)/python -m companion.bench check

# Two processes: the rule sweeps with the SIP training sweep, and Adam's training sweep (the script
# merges what each writes under a file lock).
bench-own-simulator: $(STAMP)
	@export OPENBLAS_NUM_THREADS=1 PYTHONPATH=$(CURDIR); \
	$(BIN)/python tools/own_simulator_bench.py --part training --method physics & other=$$!; \
	$(BIN)/python tools/own_simulator_bench.py --part all --method sip; \
	wait $$other
