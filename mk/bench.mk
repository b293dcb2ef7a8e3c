# Benchmarks (issue 8), included by the Makefile.
#
#   make bench        measure every rule: python -m companion.bench all --jobs $(BENCH_JOBS)
#                     (scale-invariance, cost against size, the optimiser comparison, the
#                     SIP / HIG training benchmarks and the stored sweeps of the chapters:
#                     discussion, hig_chapter); writes JSON + PNG into $(BENCH_OUT),
#                     about 6-8 minutes on 2 cores.  Commit the results: book/benchmarks.ipynb
#                     shows them, and book/sip.ipynb (sip.json), book/hig.ipynb (hig_chapter.json)
#                     and book/discussion.ipynb (discussion.json) read their sweeps from them
#                     (re-execute these after a new run).
#   make bench-quick  the same with reduced sizes into $(BENCH_QUICK_OUT), under a minute
#                     (a smoke test; it never touches the committed results)
#
# One part alone: $(BIN)/python -m companion.bench scale|cost|training|compare|discussion|hig_chapter [--quick] [--out DIR]

.PHONY: bench bench-quick

BENCH_OUT       ?= bench_results
BENCH_QUICK_OUT ?= _build/bench-quick
BENCH_JOBS      ?= 2

bench: $(STAMP)
	@t0=$$(date +%s); \
	MPLBACKEND=Agg $(BIN)/python -m companion.bench all --jobs $(BENCH_JOBS) --out $(BENCH_OUT); \
	t1=$$(date +%s); \
	echo "== make bench took $$((t1 - t0)) s; results in $(BENCH_OUT)/"

bench-quick: $(STAMP)
	@t0=$$(date +%s); \
	MPLBACKEND=Agg $(BIN)/python -m companion.bench all --quick --jobs $(BENCH_JOBS) --out $(BENCH_QUICK_OUT); \
	t1=$$(date +%s); \
	echo "== make bench-quick took $$((t1 - t0)) s; results in $(BENCH_QUICK_OUT)/"
