/**
 * MQTT topic matching (MQTT 5 §4.7), used when a broker does not tag messages with subscription
 * identifiers. What function.toml may declare is checked in src/registry/mqtt-topic.ts.
 */

/** Whether a topic name matches a (valid) filter; "$" topics never match a leading wildcard (§4.7.2). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}
