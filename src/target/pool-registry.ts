/**
 * The daemon's pools: name validation and resolution inside the pool dir, the open pool files, and
 * the handles clients hold on them. A pool has at most one writer handle; a pool file stays mapped
 * while any handle is open on it.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { RpmemError, ErrorCode } from '../storage/errors';
import { EpochClaim, checkClaim, checkPlainWriter, sameClaim } from '../storage/epoch-claim';
import { PoolFile } from '../storage/pool-file';
import { PoolAttr } from '../storage/pool-attr';
import { Durability, checkDurability } from '../storage/durability';
import { HEADER_BYTES } from '../storage/pool-header';
import type { TargetConfig } from './config-keys';
import type { Log } from './log';

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export type HandleMode = 'read-write' | 'read-only';

/** A client's claim on an open pool. Released by Close, by its stream ending, or by its lease expiring. */
export interface Handle {
  readonly id: string;
  readonly name: string;
  readonly mode: HandleMode;
  readonly pool: OpenPool;
  /** The client's address, as `status` shows the holder of an open pool. */
  readonly peer: string;
  /** The claim the writer stated at Open or PersistStart; undefined until it states one. */
  claim?: EpochClaim;
  /** True once a Persist stream has attached (a writer handle takes at most one). */
  streaming: boolean;
  /** Called with the pool's new claim when Fence promises the epoch to another writer. */
  onFenced?: (claim: EpochClaim) => void;
  lease?: NodeJS.Timeout;
}

interface OpenPool {
  readonly name: string;
  readonly file: PoolFile;
  readonly handles: Set<Handle>;
}

/** Throws RPMEM_E_BAD_NAME unless `name` is a valid pool name. */
export function checkPoolName(name: string): void {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    const shown = typeof name === 'string' ? JSON.stringify(name.length > 40 ? name.slice(0, 40) + '…' : name) : typeof name;
    throw new RpmemError(ErrorCode.BAD_NAME, `bad pool name ${shown}: must match ${NAME_PATTERN.source}`);
  }
}

function writerOf(pool: OpenPool): Handle | undefined {
  for (const h of pool.handles) if (h.mode === 'read-write') return h;
  return undefined;
}

export class PoolRegistry {
  private readonly pools = new Map<string, OpenPool>();
  private readonly handles = new Map<string, Handle>();
  /** Per name, the tail of its queue of creates, opens and removes, so two never race on one file. */
  private readonly nameQueues = new Map<string, Promise<void>>();

  constructor(
    private readonly config: TargetConfig,
    private readonly log: Log,
  ) {}

  /** Removes leftovers of creates interrupted by a crash (hidden temporary files). */
  sweepTemporaryFiles(): void {
    for (const entry of fs.readdirSync(this.config.poolDir)) {
      if (/^\..+\.creating-[0-9a-f]+$/.test(entry)) {
        fs.rmSync(path.join(this.config.poolDir, entry), { force: true });
        this.log.warn('removed an interrupted create', { file: entry });
      }
    }
  }

  /** The pool's file path; the name is validated and the path is checked to stay inside the pool dir. */
  pathOf(name: string): string {
    checkPoolName(name);
    const file = path.resolve(this.config.poolDir, name);
    if (path.dirname(file) !== this.config.poolDir) {
      throw new RpmemError(ErrorCode.BAD_NAME, `pool name ${JSON.stringify(name)} escapes the pool dir`);
    }
    return file;
  }

  async create(name: string, poolSize: number, attr: PoolAttr): Promise<void> {
    const file = this.pathOf(name);
    if (!Number.isSafeInteger(poolSize) || poolSize <= HEADER_BYTES) {
      throw new RpmemError(ErrorCode.INVALID_ARGUMENT, `pool_size must exceed the ${HEADER_BYTES}-byte header, got ${poolSize}`);
    }
    if (poolSize > this.config.maxPoolBytes) {
      throw new RpmemError(ErrorCode.LIMIT, `pool_size ${poolSize} exceeds this target's maximum of ${this.config.maxPoolBytes} bytes`);
    }
    await this.exclusively(name, async () => {
      if (fs.existsSync(file)) throw new RpmemError(ErrorCode.EXISTS, `pool ${name} exists already`);
      this.checkDirLimits(poolSize);
      const pool = await PoolFile.create(file, { poolSize, attr, granularity: this.config.granularity });
      await pool.close();
      this.log.info('pool created', { pool: name, poolSize });
    });
  }

  /** The pool files open (mapped) right now. */
  openFiles(): PoolFile[] {
    return [...this.pools.values()].map((p) => p.file);
  }

  /** Pool names in the pool dir (valid names only: temporary and foreign files are skipped). */
  names(): string[] {
    return fs
      .readdirSync(this.config.poolDir)
      .filter((f) => NAME_PATTERN.test(f))
      .sort();
  }

  /** Throws RPMEM_E_LIMIT if one more pool of `poolSize` bytes would pass max-pools or max-total-bytes. */
  private checkDirLimits(poolSize: number): void {
    const names = this.names();
    if (names.length >= this.config.maxPools) {
      throw new RpmemError(ErrorCode.LIMIT, `this target holds ${names.length} pools, its maximum (max-pools)`);
    }
    const used = names.reduce((sum, n) => sum + (fs.statSync(path.join(this.config.poolDir, n), { throwIfNoEntry: false })?.size ?? 0), 0);
    if (used + poolSize > this.config.maxTotalBytes) {
      throw new RpmemError(
        ErrorCode.LIMIT,
        `pools would take ${used + poolSize} bytes, over this target's maximum of ${this.config.maxTotalBytes} (max-total-bytes)`,
      );
    }
  }

  /**
   * Opens a handle. A writer is refused with RPMEM_E_FENCED, before any handle exists, when the
   * pool would refuse its `claim` (none: a plain writer on a pool a primary claimed); an opener
   * requiring more durability than the pool gives, with RPMEM_E_DURABILITY, likewise; a second
   * writer on one pool gets RPMEM_E_BUSY.
   */
  async open(name: string, mode: HandleMode, peer: string, want: { claim?: EpochClaim; required?: Durability } = {}): Promise<Handle> {
    const file = this.pathOf(name);
    const { claim, required } = want;
    return this.exclusively(name, async () => {
      const writing = mode === 'read-write';
      let pool = this.pools.get(name);
      if (pool === undefined) {
        if (!fs.existsSync(file)) throw new RpmemError(ErrorCode.NO_POOL, `no pool named ${name}`);
        const opened = PoolFile.open(file, { granularity: this.config.granularity });
        // Checked before the file joins the open pools: a concurrent Stat or Fence may use it from then on.
        await checkBeforeOpen(opened, () => {
          checkDurability(`pool ${name}`, opened.durability, required);
          if (writing) checkWriter(name, opened.claim, claim);
        });
        pool = { name, file: opened, handles: new Set() };
        this.pools.set(name, pool);
      } else {
        checkDurability(`pool ${name}`, pool.file.durability, required);
        if (writing) {
          checkWriter(name, pool.file.claim, claim);
          const writer = writerOf(pool);
          if (writer !== undefined)
            throw new RpmemError(ErrorCode.BUSY, `pool ${name} is already open for writing by ${holderName(writer)}`);
        }
      }
      const handle: Handle = { id: crypto.randomUUID(), name, mode, pool, peer, claim, streaming: false };
      pool.handles.add(handle);
      this.handles.set(handle.id, handle);
      this.armLease(handle);
      this.log.info('pool opened', { pool: name, mode, handle: handle.id });
      return handle;
    });
  }

  /** The handle `id`; RPMEM_E_BAD_HANDLE if unknown or of the wrong mode. Refreshes its lease. */
  get(id: string, mode?: HandleMode): Handle {
    const handle = this.handles.get(id);
    if (handle === undefined) throw new RpmemError(ErrorCode.BAD_HANDLE, 'unknown or expired handle');
    if (mode === 'read-write' && handle.mode !== 'read-write') {
      throw new RpmemError(ErrorCode.BAD_HANDLE, `handle on pool ${handle.name} is read-only`);
    }
    if (!handle.streaming) this.armLease(handle);
    return handle;
  }

  /** Marks a writer handle as owned by a stream writing under `claim`: it lives until that stream ends. */
  attachStream(handle: Handle, claim: EpochClaim, onFenced: (claim: EpochClaim) => void): void {
    if (handle.streaming) throw new RpmemError(ErrorCode.BUSY, `handle on pool ${handle.name} already has a Persist stream`);
    handle.streaming = true;
    handle.claim = claim;
    handle.onFenced = onFenced;
    clearTimeout(handle.lease);
  }

  /**
   * Claims pool `name`'s epoch for `claim` (durably; RPMEM_E_FENCED when the pool refuses it), then
   * ends every Persist stream and releases every idle writer handle of another claim, so the old
   * writer neither writes again nor keeps the pool busy. Works whether or not the pool is open.
   */
  async fence(name: string, claim: EpochClaim): Promise<void> {
    const file = this.pathOf(name);
    const open = this.pools.get(name);
    if (open !== undefined) {
      await open.file.claimEpoch(claim);
      for (const h of [...open.handles]) {
        if (h.mode !== 'read-write' || (h.claim !== undefined && sameClaim(h.claim, claim))) continue;
        if (h.streaming) h.onFenced?.(claim);
        else await this.release(h);
      }
    } else {
      await this.exclusively(name, async () => {
        if (!fs.existsSync(file)) throw new RpmemError(ErrorCode.NO_POOL, `no pool named ${name}`);
        const pool = PoolFile.open(file, { granularity: this.config.granularity });
        try {
          await pool.claimEpoch(claim);
        } finally {
          await pool.close();
        }
      });
    }
    this.log.info('pool fenced', { pool: name, epoch: claim.epoch });
  }

  /** Who holds pool `name` for writing (peer and stated epoch), if anyone. */
  holder(name: string): { peer: string; epoch: bigint } | undefined {
    const open = this.pools.get(name);
    const writer = open === undefined ? undefined : writerOf(open);
    return writer === undefined ? undefined : { peer: writer.peer, epoch: writer.claim?.epoch ?? 0n };
  }

  /** Releases a handle; the pool file is closed with its last handle. Idempotent. */
  async release(handle: Handle): Promise<void> {
    if (!this.handles.delete(handle.id)) return;
    clearTimeout(handle.lease);
    const pool = handle.pool;
    pool.handles.delete(handle);
    this.log.info('handle released', { pool: pool.name, handle: handle.id });
    if (pool.handles.size > 0) return;
    this.pools.delete(pool.name);
    await pool.file.close();
  }

  /**
   * Calls `use` with the open pool file, or with a read-only view opened just for it; `writing`
   * tells whether a writer holds the pool.
   */
  async withPool<T>(name: string, use: (file: PoolFile, writing: boolean) => T): Promise<T> {
    const file = this.pathOf(name);
    const open = this.pools.get(name);
    if (open !== undefined) return use(open.file, writerOf(open) !== undefined);
    return this.exclusively(name, async () => {
      if (!fs.existsSync(file)) throw new RpmemError(ErrorCode.NO_POOL, `no pool named ${name}`);
      const view = PoolFile.open(file, { granularity: this.config.granularity, readOnly: true });
      try {
        return use(view, false);
      } finally {
        await view.close();
      }
    });
  }

  async remove(name: string): Promise<void> {
    const file = this.pathOf(name);
    await this.exclusively(name, async () => {
      if (this.pools.has(name)) throw new RpmemError(ErrorCode.BUSY, `pool ${name} is open`);
      if (!fs.existsSync(file)) throw new RpmemError(ErrorCode.NO_POOL, `no pool named ${name}`);
      await PoolFile.remove(file);
      this.log.info('pool removed', { pool: name });
    });
  }

  /** Releases every handle and closes every pool file. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.handles.values()].map((h) => this.release(h)));
  }

  private armLease(handle: Handle): void {
    clearTimeout(handle.lease);
    handle.lease = setTimeout(() => {
      this.log.warn('handle lease expired', { pool: handle.name, handle: handle.id });
      void this.release(handle);
    }, this.config.openLeaseMs);
    handle.lease.unref();
  }

  /** Runs `work` after every earlier create/open/remove of `name` has finished. */
  private exclusively<T>(name: string, work: () => Promise<T>): Promise<T> {
    const prior = this.nameQueues.get(name) ?? Promise.resolve();
    const result = prior.then(work);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.nameQueues.set(name, tail);
    void tail.then(() => {
      if (this.nameQueues.get(name) === tail) this.nameQueues.delete(name);
    });
    return result;
  }
}

function holderName(h: Handle): string {
  return h.claim === undefined ? h.peer : `${h.peer} at epoch ${h.claim.epoch}`;
}

/** Throws RPMEM_E_FENCED when pool `name`, which promised `held`, refuses a writer stating `claim` (none: a plain writer). */
function checkWriter(name: string, held: EpochClaim, claim: EpochClaim | undefined): void {
  if (claim === undefined) checkPlainWriter(name, held);
  else checkClaim(held, claim);
}

/** Runs `check` on a file just opened, closing the file when it throws (RPMEM_E_FENCED, RPMEM_E_DURABILITY). */
async function checkBeforeOpen(file: PoolFile, check: () => void): Promise<void> {
  try {
    check();
  } catch (err) {
    await file.close();
    throw err;
  }
}
