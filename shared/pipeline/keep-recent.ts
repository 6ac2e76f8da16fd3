/**
 * Makes `key` the newest entry of `map` and drops the oldest beyond `limit`: how a warm process bounds what it keeps
 * between invocations (a Map iterates in insertion order, so the first key is the oldest).
 */
export function keepRecent<K, V>(map: Map<K, V>, key: K, value: V, limit: number): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > limit) map.delete(map.keys().next().value!);
}
