/**
 * Where a group lives in etcd. Under `<prefix><group>/`:
 * - `leader`: the member name of the primary, on the primary's lease; taken only while absent.
 * - `epoch`: the fencing epoch counter (decimal), bumped only by the holder of `leader`.
 * - `primary`: what the primary serves (JSON {@link PrimaryRecord}), on the primary's lease.
 * - `members/<member>`: each candidate (JSON {@link MemberRecord}), on its own member lease.
 */

/** The keys of one group. */
export interface ClusterKeys {
  leader: string;
  epoch: string;
  primary: string;
  membersPrefix: string;
  member(name: string): string;
}

/** The value of the `primary` key. */
export interface PrimaryRecord {
  member: string;
  epoch: string;
  replicas: string[];
  /** ISO time the member became primary. */
  since: string;
}

/** The value of a `members/<member>` key. */
export interface MemberRecord {
  member: string;
  role: string;
  pool: string;
  /** ISO time of the last role change. */
  since: string;
}

export function clusterKeys(prefix: string, group: string): ClusterKeys {
  const root = `${prefix.endsWith('/') ? prefix : `${prefix}/`}${group}/`;
  return {
    leader: `${root}leader`,
    epoch: `${root}epoch`,
    primary: `${root}primary`,
    membersPrefix: `${root}members/`,
    member: (name) => `${root}members/${name}`,
  };
}
