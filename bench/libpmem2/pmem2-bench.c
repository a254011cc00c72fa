/*
 * pmem2-bench.c -- libpmem2 reference for the rpmem bench (compiled at run time, never committed)
 *
 * Usage: pmem2-bench FILE POOL_BYTES CELL_MS MAX_OPS WARMUP_MS GROUP_BYTES SIZE...
 *
 * Creates FILE (POOL_BYTES of data after a 4 KiB header area, like an rpmem pool), maps it with
 * pmem2_map_new, writes and persists the data area once (no first-touch faults later) and, for each SIZE, measures on random aligned offsets (the bench's xorshift):
 *   qd1   -- memcpy + pmem2 persist_fn of one range, timed one by one (latency percentiles)
 *   group -- memcpy + flush_fn for each range of a GROUP_BYTES group, then one drain_fn
 * Granularity: set PMEM2_FORCE_GRANULARITY=CACHE_LINE (or PAGE) in the environment.
 * Prints one JSON object per SIZE on stdout. FILE is left for the caller to remove.
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

int main(int argc, char **argv)
{
	if (argc < 8) {
		fprintf(stderr, "usage: %s FILE POOL_BYTES CELL_MS MAX_OPS WARMUP_MS GROUP_BYTES SIZE...\n", argv[0]);
		return 2;
	}
	const char *file = argv[1];
	uint64_t pool = strtoull(argv[2], NULL, 10);
	uint64_t cell_ns = strtoull(argv[3], NULL, 10) * 1000000ULL;
	size_t max_ops = (size_t)strtoull(argv[4], NULL, 10);
	uint64_t warm_ns = strtoull(argv[5], NULL, 10) * 1000000ULL;
	uint64_t group_bytes = strtoull(argv[6], NULL, 10);

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
	const char *gname = granularity_name(pmem2_map_get_store_granularity(map));

	/* prefill: write and persist the whole data area once, as every other row does */
	memset(base + HEADER_BYTES, 0, pool);
	persist(base + HEADER_BYTES, pool);

	uint64_t *samples = malloc(max_ops * sizeof(uint64_t));
	if (samples == NULL)
		return 1;

	for (int a = 7; a < argc; a++) {
		uint64_t size = strtoull(argv[a], NULL, 10);
		uint8_t *data = malloc(size);
		for (uint64_t i = 0; i < size; i++)
			data[i] = (uint8_t)(i * 131 + size);
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
		uint64_t sum = 0;
		for (size_t i = 0; i < n; i++)
			sum += samples[i];
		qsort(samples, n, sizeof(uint64_t), cmp_u64);

		printf("{\"size\":%llu,\"granularity\":\"%s\","
		       "\"group\":{\"ops\":%llu,\"seconds\":%.6f,\"rangesPerGroup\":%llu},"
		       "\"qd1\":{\"ops\":%zu,\"seconds\":%.6f,\"p50Ns\":%llu,\"p99Ns\":%llu,\"p999Ns\":%llu,"
		       "\"meanNs\":%.1f,\"maxNs\":%llu}}\n",
		       (unsigned long long)size, gname, (unsigned long long)group_ops, group_s,
		       (unsigned long long)per_group, n, qd1_s, (unsigned long long)pct(samples, n, 0.5),
		       (unsigned long long)pct(samples, n, 0.99), (unsigned long long)pct(samples, n, 0.999),
		       n ? (double)sum / (double)n : 0.0, (unsigned long long)(n ? samples[n - 1] : 0));
		fflush(stdout);
		free(data);
	}

	free(samples);
	pmem2_map_delete(&map);
	pmem2_source_delete(&src);
	pmem2_config_delete(&cfg);
	close(fd);
	return 0;
}
