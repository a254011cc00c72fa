/*
 * pmem2-bench.c -- libpmem2 reference for the rpmem bench (compiled at run time, never committed)
 *
 * Usage: pmem2-bench FILE POOL_BYTES CELL_MS MAX_OPS WARMUP_MS GROUP_BYTES CYCLE_RANGES TRAILER_BYTES
 *                    SLOT_STRIDE FRAMING_BYTES SIZE...
 *
 * Creates FILE (POOL_BYTES of data after a 4 KiB header area, like an rpmem pool), maps it with
 * pmem2_map_new, writes and persists the data area once (no first-touch faults later) and, for each SIZE, measures on random aligned offsets (the bench's xorshift):
 *   qd1   -- memcpy + pmem2 persist_fn of one range, timed one by one (latency percentiles)
 *   group -- memcpy + flush_fn for each range of a GROUP_BYTES group, then one drain_fn
 * printing one JSON object per SIZE on stdout. Then it serves the libpmem2 side of the like-for-like
 * pair (bench/like-for-like.ts), one command per stdin line and one JSON line per answer, so the
 * caller can interleave its slices with the native writer's on a shared machine:
 *   group SIZE MS MAX -- batches of GROUP_BYTES / SIZE ranges (see lfl_batch) back to back, until
 *                        MAX batches or MS: {"batches","seconds","rangesPerBatch"}
 *   qd1 SIZE MS MAX   -- the same with one range per batch, each batch timed; the samples add up
 *                        until `latency`: {"batches","seconds"}
 *   latency           -- percentiles of the samples since the last `latency`, which it clears
 *                        ("seconds" is 0 here: the slices' answers carry the time)
 * Every slice cycles through the same CYCLE_RANGES offsets (rounded up to whole pairs of batches)
 * from its start, as the native side's benchWritePacked does. EOF on stdin ends the process.
 * Granularity: set PMEM2_FORCE_GRANULARITY=CACHE_LINE (or PAGE) in the environment.
 * FILE is left for the caller to remove.
 */
#include <errno.h>
#include <fcntl.h>
#include <libpmem2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HEADER_BYTES 4096ULL

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* offsets -- the same generator as bench/offsets.ts */
struct offsets {
	uint32_t state;
	uint64_t slots;
	uint64_t align;
};

static void offsets_init(struct offsets *o, uint64_t space, uint64_t size, uint32_t seed)
{
	o->align = size < 4096 ? size : 4096;
	o->slots = (space - size) / o->align + 1;
	o->state = seed ? seed : 1;
}

static uint64_t offsets_next(struct offsets *o)
{
	uint32_t x = o->state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	o->state = x;
	return (x % o->slots) * o->align;
}

/*
 * run_groups -- copies and flushes ranges, one drain per group of per_group, until max_ops or
 * the deadline (looked at every 16 ranges, so a slow msync-per-range group stops in time)
 */
static uint64_t run_groups(uint8_t *base, const uint8_t *data, uint64_t size, uint64_t per_group,
			   struct offsets *offs, pmem2_flush_fn flush, pmem2_drain_fn drain, uint64_t max_ops,
			   uint64_t deadline)
{
	uint64_t done = 0;
	int stop = 0;
	while (!stop && done < max_ops && now_ns() < deadline) {
		for (uint64_t i = 0; i < per_group; i++) {
			uint8_t *dst = base + HEADER_BYTES + offsets_next(offs);
			memcpy(dst, data, size);
			flush(dst, size);
			done++;
			if ((done & 15) == 0 && now_ns() >= deadline) {
				stop = 1;
				break;
			}
		}
		drain();
	}
	return done;
}

/* what every like-for-like batch of one SIZE shares */
struct lfl {
	uint8_t *base;
	const uint8_t *source; /* the ranges of one batch, each after FRAMING_BYTES, like a message */
	uint64_t stride;       /* FRAMING_BYTES + size */
	uint64_t framing;
	uint64_t size;
	const uint8_t *trailer; /* a header slot's bytes */
	uint64_t trailer_bytes;
	uint64_t slot_stride;
	int page;
	pmem2_flush_fn flush;
	pmem2_drain_fn drain;
	pmem2_persist_fn persist;
};

/*
 * lfl_batch -- one batch as rpmemd writes it: each range copied from the message-like source and
 * made durable, then the header slot written and made durable strictly after them (I2). Cache
 * line: flush_fn per range and one drain_fn, then the slot's persist_fn (flush + drain): two
 * fences, as the native writer does. Page: pmem2's flush_fn is an msync per call, so flushing
 * range by range would be one msync per range against the native writer's one sync per batch;
 * for the same work the batch's data get one persist_fn (msync) over the span from its lowest to
 * its highest byte (msync writes back only the dirty pages in it), then the slot its own.
 */
static void lfl_batch(const struct lfl *l, const uint64_t *offs, uint64_t count, uint64_t slot)
{
	if (l->page) {
		uint64_t lo = UINT64_MAX, hi = 0;
		for (uint64_t i = 0; i < count; i++) {
			memcpy(l->base + offs[i], l->source + i * l->stride + l->framing, l->size);
			if (offs[i] < lo)
				lo = offs[i];
			if (offs[i] + l->size > hi)
				hi = offs[i] + l->size;
		}
		l->persist(l->base + lo, hi - lo);
	} else {
		for (uint64_t i = 0; i < count; i++) {
			uint8_t *dst = l->base + offs[i];
			memcpy(dst, l->source + i * l->stride + l->framing, l->size);
			l->flush(dst, l->size);
		}
		l->drain();
	}
	memcpy(l->base + slot, l->trailer, l->trailer_bytes);
	l->persist(l->base + slot, l->trailer_bytes);
}

/*
 * run_lfl -- batches of per_batch ranges cycling through `offs` (n_offs of them, whole pairs of
 * batches) until max_batches or the deadline, as the native writer's benchWritePacked loops;
 * batch k's slot alternates like rpmemd's two header slots. Each batch's ns go to samples when given.
 */
static uint64_t run_lfl(const struct lfl *l, const uint64_t *offs, uint64_t n_offs, uint64_t per_batch,
			uint64_t max_batches, uint64_t deadline, uint64_t *samples)
{
	uint64_t batches = n_offs / per_batch, done = 0;
	for (; done < max_batches; done++) {
		uint64_t t0 = now_ns();
		if (t0 >= deadline)
			break;
		uint64_t k = done % batches;
		lfl_batch(l, offs + k * per_batch, per_batch, (k % 2) * l->slot_stride);
		if (samples != NULL)
			samples[done] = now_ns() - t0;
	}
	return done;
}

/* lfl_offsets -- CYCLE_RANGES pool offsets rounded up to whole pairs of batches, as bench/local-floor.ts draws them */
static uint64_t *lfl_offsets(uint64_t pool, uint64_t size, uint64_t cycle, uint64_t per_batch, uint64_t *n)
{
	uint64_t pair = 2 * per_batch;
	*n = (cycle + pair - 1) / pair * pair;
	uint64_t *offs = malloc(*n * sizeof(uint64_t));
	if (offs == NULL)
		return NULL;
	struct offsets gen;
	offsets_init(&gen, pool, size, (uint32_t)(0x1234 + size));
	for (uint64_t i = 0; i < *n; i++)
		offs[i] = HEADER_BYTES + offsets_next(&gen);
	return offs;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t pct(const uint64_t *sorted, size_t n, double q)
{
	if (n == 0)
		return 0;
	size_t rank = (size_t)(q * (double)n + 0.999999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

static const char *granularity_name(enum pmem2_granularity g)
{
	switch (g) {
	case PMEM2_GRANULARITY_BYTE:
		return "byte";
	case PMEM2_GRANULARITY_CACHE_LINE:
		return "cache-line";
	case PMEM2_GRANULARITY_PAGE:
		return "page";
	}
	return "unknown";
}

static void die(const char *what)
{
	fprintf(stderr, "pmem2-bench: %s: %s (errno %d)\n", what, pmem2_errormsg(), errno);
	exit(1);
}

/* latency_json -- `"ops":N,"seconds":S,"p50Ns":...` of n samples (sorted in place) taken over `seconds` */
static void latency_json(uint64_t *samples, size_t n, double seconds)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += samples[i];
	qsort(samples, n, sizeof(uint64_t), cmp_u64);
	printf("\"ops\":%zu,\"seconds\":%.6f,\"p50Ns\":%llu,\"p99Ns\":%llu,\"p999Ns\":%llu,\"meanNs\":%.1f,\"maxNs\":%llu", n,
	       seconds, (unsigned long long)pct(samples, n, 0.5), (unsigned long long)pct(samples, n, 0.99),
	       (unsigned long long)pct(samples, n, 0.999), n ? (double)sum / (double)n : 0.0,
	       (unsigned long long)(n ? samples[n - 1] : 0));
}

/* pattern -- a buffer of n bytes that differ from size to size */
static uint8_t *pattern(uint64_t n, uint64_t size)
{
	uint8_t *buf = malloc(n);
	if (buf == NULL) {
		perror("malloc");
		exit(1);
	}
	for (uint64_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(i * 131 + size);
	return buf;
}

/*
 * lfl_slice -- one like-for-like slice: `max_batches` batches of per_batch ranges or `ms`, whichever
 * ends first; the batches' ns are appended to samples[*n_samples] when given (up to `room`)
 */
static void lfl_slice(struct lfl *l, uint64_t pool, uint64_t cycle, uint64_t per_batch, uint64_t max_batches,
		      uint64_t ms, uint64_t *samples, size_t *n_samples, size_t room)
{
	uint64_t n_offs;
	uint64_t *offs = lfl_offsets(pool, l->size, cycle, per_batch, &n_offs);
	uint8_t *source = pattern(per_batch * l->stride, l->size);
	if (offs == NULL) {
		perror("malloc");
		exit(1);
	}
	if (samples != NULL && max_batches > room - *n_samples)
		max_batches = room - *n_samples;
	l->source = source;
	uint64_t start = now_ns();
	uint64_t batches = run_lfl(l, offs, n_offs, per_batch, max_batches, start + ms * 1000000ULL,
				   samples == NULL ? NULL : samples + *n_samples);
	double seconds = (double)(now_ns() - start) / 1e9;
	if (samples != NULL)
		*n_samples += batches;
	printf("{\"batches\":%llu,\"seconds\":%.6f,\"rangesPerBatch\":%llu}\n", (unsigned long long)batches, seconds,
	       (unsigned long long)per_batch);
	fflush(stdout);
	free(source);
	free(offs);
}

int main(int argc, char **argv)
{
	if (argc < 12) {
		fprintf(stderr,
			"usage: %s FILE POOL_BYTES CELL_MS MAX_OPS WARMUP_MS GROUP_BYTES CYCLE_RANGES TRAILER_BYTES "
			"SLOT_STRIDE FRAMING_BYTES SIZE...\n",
			argv[0]);
		return 2;
	}
	const char *file = argv[1];
	uint64_t pool = strtoull(argv[2], NULL, 10);
	uint64_t cell_ns = strtoull(argv[3], NULL, 10) * 1000000ULL;
	size_t max_ops = (size_t)strtoull(argv[4], NULL, 10);
	uint64_t warm_ns = strtoull(argv[5], NULL, 10) * 1000000ULL;
	uint64_t group_bytes = strtoull(argv[6], NULL, 10);
	uint64_t cycle = strtoull(argv[7], NULL, 10);
	uint64_t trailer_bytes = strtoull(argv[8], NULL, 10);
	uint64_t slot_stride = strtoull(argv[9], NULL, 10);
	uint64_t framing = strtoull(argv[10], NULL, 10);

	int fd = open(file, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0) {
		perror("open");
		return 1;
	}
	int err = posix_fallocate(fd, 0, (off_t)(pool + HEADER_BYTES));
	if (err != 0) {
		fprintf(stderr, "posix_fallocate: %s\n", strerror(err));
		return 1;
	}

	struct pmem2_config *cfg;
	struct pmem2_source *src;
	struct pmem2_map *map;
	if (pmem2_config_new(&cfg))
		die("pmem2_config_new");
	if (pmem2_source_from_fd(&src, fd))
		die("pmem2_source_from_fd");
	if (pmem2_config_set_required_store_granularity(cfg, PMEM2_GRANULARITY_PAGE))
		die("pmem2_config_set_required_store_granularity");
	if (pmem2_map_new(&map, cfg, src))
		die("pmem2_map_new");

	uint8_t *base = pmem2_map_get_address(map);
	pmem2_persist_fn persist = pmem2_get_persist_fn(map);
	pmem2_flush_fn flush = pmem2_get_flush_fn(map);
	pmem2_drain_fn drain = pmem2_get_drain_fn(map);
	enum pmem2_granularity granularity = pmem2_map_get_store_granularity(map);
	const char *gname = granularity_name(granularity);

	/* prefill: write and persist the whole data area once, as every other row does */
	memset(base + HEADER_BYTES, 0, pool);
	persist(base + HEADER_BYTES, pool);

	uint64_t *samples = malloc(max_ops * sizeof(uint64_t));
	uint8_t *trailer = pattern(trailer_bytes, 0);
	if (samples == NULL)
		return 1;

	for (int a = 11; a < argc; a++) {
		uint64_t size = strtoull(argv[a], NULL, 10);
		uint8_t *data = pattern(size, size);
		struct offsets offs;
		offsets_init(&offs, pool, size, (uint32_t)(0x1234 + size));

		/* group: ranges of one group copied and flushed, one drain per group */
		uint64_t per_group = group_bytes / size ? group_bytes / size : 1;
		uint64_t warm_end = now_ns() + warm_ns;
		run_groups(base, data, size, per_group, &offs, flush, drain, max_ops, warm_end);
		uint64_t start = now_ns();
		uint64_t group_ops = run_groups(base, data, size, per_group, &offs, flush, drain, max_ops,
					       start + cell_ns);
		double group_s = (double)(now_ns() - start) / 1e9;

		/* qd1: one memcpy + persist at a time */
		warm_end = now_ns() + warm_ns;
		while (now_ns() < warm_end) {
			uint8_t *dst = base + HEADER_BYTES + offsets_next(&offs);
			memcpy(dst, data, size);
			persist(dst, size);
		}
		size_t n = 0;
		start = now_ns();
		uint64_t deadline = start + cell_ns;
		while (n < max_ops) {
			uint64_t t0 = now_ns();
			if (t0 >= deadline)
				break;
			uint8_t *dst = base + HEADER_BYTES + offsets_next(&offs);
			memcpy(dst, data, size);
			persist(dst, size);
			samples[n++] = now_ns() - t0;
		}
		double qd1_s = (double)(now_ns() - start) / 1e9;

		printf("{\"size\":%llu,\"granularity\":\"%s\","
		       "\"group\":{\"ops\":%llu,\"seconds\":%.6f,\"rangesPerGroup\":%llu},\"qd1\":{",
		       (unsigned long long)size, gname, (unsigned long long)group_ops, group_s,
		       (unsigned long long)per_group);
		latency_json(samples, n, qd1_s);

		printf("}}\n");
		fflush(stdout);
		free(data);
	}

	/* the like-for-like commands; the standard rows' samples buffer now collects qd1 slices */
	struct lfl l = {
		.base = base,
		.framing = framing,
		.trailer = trailer,
		.trailer_bytes = trailer_bytes,
		.slot_stride = slot_stride,
		.page = granularity == PMEM2_GRANULARITY_PAGE,
		.flush = flush,
		.drain = drain,
		.persist = persist,
	};
	size_t n_samples = 0;
	char line[256], kind[16];
	unsigned long long size, ms, max;
	while (fgets(line, sizeof line, stdin) != NULL) {
		if (strncmp(line, "latency", 7) == 0) {
			printf("{");
			latency_json(samples, n_samples, 0);
			printf("}\n");
			fflush(stdout);
			n_samples = 0;
			continue;
		}
		if (sscanf(line, "%15s %llu %llu %llu", kind, &size, &ms, &max) != 4 || size == 0 ||
		    (strcmp(kind, "group") != 0 && strcmp(kind, "qd1") != 0)) {
			fprintf(stderr, "pmem2-bench: bad command: %s", line);
			return 2;
		}
		int qd1 = strcmp(kind, "qd1") == 0;
		uint64_t per_batch = qd1 || group_bytes / size == 0 ? 1 : group_bytes / size;
		l.size = size;
		l.stride = framing + size;
		lfl_slice(&l, pool, cycle, per_batch, max, ms, qd1 ? samples : NULL, &n_samples, max_ops);
	}

	free(trailer);
	free(samples);
	pmem2_map_delete(&map);
	pmem2_source_delete(&src);
	pmem2_config_delete(&cfg);
	close(fd);
	return 0;
}
