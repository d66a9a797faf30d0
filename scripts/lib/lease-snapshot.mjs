// Redis losing its latest writes, for the fault campaigns: what an older RDB or
// a lagging replica promoted would hold (docs/design.md, decision 34). One
// namespace's epoch counter and leader hash are taken now and written back
// later, and the lease is lost with them.

const key = (namespace, k) => `ray-head-ha:{${namespace}}:${k}`;

/** The namespace's epoch counter and leader hash as they are now. */
export async function leaseSnapshot(redis, namespace) {
  return { epoch: (await redis.get(key(namespace, 'epoch'))) ?? '0', leader: await redis.hgetall(key(namespace, 'leader')) };
}

/** Writes `snap` back in one transaction and deletes the lease, as a restore from it would. */
export async function restoreLeaseSnapshot(redis, namespace, snap) {
  const m = redis.multi().set(key(namespace, 'epoch'), snap.epoch).del(key(namespace, 'leader'));
  if (Object.keys(snap.leader).length > 0) m.hset(key(namespace, 'leader'), snap.leader);
  await m.del(key(namespace, 'lease')).exec();
}
