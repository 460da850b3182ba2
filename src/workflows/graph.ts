/**
 * The checks on a machine's transitions: every Next, Default and Catch target names a state of
 * the same machine, every state is reachable from StartAt, and every state can reach an end
 * (a state with "End": true, a Succeed or a Fail), so no run can loop with no way out.
 */
import { AslError } from './fields.js';
import type { Machine, State } from './machine.js';

/** The states `state` can go to, each with the field that says so. */
export function transitions(state: State): { field: string; target: string }[] {
  const out: { field: string; target: string }[] = [];
  if (state.next !== undefined) out.push({ field: 'Next', target: state.next });
  if (state.type === 'Choice') {
    state.choices.forEach((c, i) => out.push({ field: `Choices[${i}].Next`, target: c.next }));
    if (state.default !== undefined) out.push({ field: 'Default', target: state.default });
  }
  if (state.type === 'Task' || state.type === 'Parallel' || state.type === 'Map')
    state.catch.forEach((c, i) => out.push({ field: `Catch[${i}].Next`, target: c.next }));
  return out;
}

function isTerminal(state: State): boolean {
  return state.type === 'Succeed' || state.type === 'Fail' || (state.next === undefined && state.type !== 'Choice');
}

export function checkGraph(machine: Machine, prefix: string): void {
  const where = (name: string) => `state "${prefix}${name}"`;
  for (const state of machine.states.values()) {
    for (const { field, target } of transitions(state)) {
      if (!machine.states.has(target))
        throw new AslError(`${where(state.name)}: ${field} "${target}" names no state of this machine`, state.name);
    }
  }
  const reachable = new Set<string>([machine.startAt]);
  const queue = [machine.startAt];
  while (queue.length > 0) {
    const state = machine.states.get(queue.pop()!)!;
    for (const { target } of transitions(state)) {
      if (!reachable.has(target)) {
        reachable.add(target);
        queue.push(target);
      }
    }
  }
  for (const name of machine.states.keys()) {
    if (!reachable.has(name))
      throw new AslError(`${where(name)}: no transition leads to it from StartAt "${machine.startAt}"`, name);
  }
  checkEnds(machine, where);
}

/** Walks the transitions backwards from the terminal states: whatever it never meets cannot end. */
function checkEnds(machine: Machine, where: (name: string) => string): void {
  const into = new Map<string, string[]>();
  for (const state of machine.states.values()) {
    for (const { target } of transitions(state)) into.set(target, [...(into.get(target) ?? []), state.name]);
  }
  const canEnd = new Set<string>();
  const queue = [...machine.states.values()].filter(isTerminal).map((s) => s.name);
  for (const name of queue) canEnd.add(name);
  while (queue.length > 0) {
    for (const from of into.get(queue.pop()!) ?? []) {
      if (!canEnd.has(from)) {
        canEnd.add(from);
        queue.push(from);
      }
    }
  }
  for (const name of machine.states.keys()) {
    if (!canEnd.has(name))
      throw new AslError(
        `${where(name)}: cannot reach an end (every path from it loops without a state that has "End": true, a Succeed or a Fail)`,
        name,
      );
  }
}
