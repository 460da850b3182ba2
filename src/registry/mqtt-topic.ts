/**
 * MQTT topic names and topic filters (MQTT 5 §4.7): what function.toml may declare. The matching
 * used at run time is in src/triggers/mqtt/topic.ts.
 */

/** Topic names and filters are UTF-8 strings of at most 65,535 bytes (MQTT 5 §1.5.4). */
const MAX_TOPIC_BYTES = 65_535;
/** Tern makes the shared subscription itself; a filter naming one would nest two. */
const SHARED_PREFIXES = ['$share/', '$queue/'];

function commonProblem(value: string): string | undefined {
  if (value === '') return 'must not be empty';
  if (Buffer.byteLength(value, 'utf8') > MAX_TOPIC_BYTES) return `longer than ${MAX_TOPIC_BYTES} bytes`;
  if (value.includes('\u0000')) return 'must not contain the null character';
  return undefined;
}

/** Why `filter` is not a valid MQTT topic filter for a trigger; undefined when it is. */
export function filterProblem(filter: string): string | undefined {
  const common = commonProblem(filter);
  if (common !== undefined) return common;
  if (SHARED_PREFIXES.some((p) => filter.startsWith(p)))
    return `must not start with "${filter.slice(0, 7)}": Tern subscribes every trigger as a shared subscription itself`;
  const levels = filter.split('/');
  for (const [i, level] of levels.entries()) {
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1))
      return `"#" must be a whole level and the last one (as in "sensors/#"), in ${JSON.stringify(filter)}`;
    if (level.includes('+') && level !== '+')
      return `"+" must be a whole level (as in "sensors/+/temp"), in ${JSON.stringify(filter)}`;
  }
  return undefined;
}

/** Why `topic` cannot be published to (a reply topic); undefined when it can. */
export function topicNameProblem(topic: string): string | undefined {
  const common = commonProblem(topic);
  if (common !== undefined) return common;
  if (topic.includes('+') || topic.includes('#'))
    return `a topic to publish to cannot hold the wildcards "+" or "#": ${JSON.stringify(topic)}`;
  if (topic.startsWith('$')) return `topics starting with "$" belong to the broker: ${JSON.stringify(topic)}`;
  return undefined;
}
