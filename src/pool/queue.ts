/**
 * A bounded FIFO of calls waiting for an instance. Each entry gives up on its own after `waitMs`;
 * removal from the middle (timeout) is O(1) because entries are linked both ways.
 */
interface Node<T> {
  readonly value: T;
  prev: Node<T> | undefined;
  next: Node<T> | undefined;
  timer: NodeJS.Timeout | undefined;
}

export class WaitQueue<T> {
  private head: Node<T> | undefined;
  private tail: Node<T> | undefined;
  private size = 0;

  /** `onTimeout` receives an entry that waited `waitMs`; it is already out of the queue. */
  constructor(
    readonly capacity: number,
    readonly waitMs: number,
    private readonly onTimeout: (value: T) => void,
  ) {}

  get length(): number {
    return this.size;
  }

  /** Appends; false when the queue is full (the caller answers 429). */
  push(value: T): boolean {
    if (this.size >= this.capacity) return false;
    const node: Node<T> = { value, prev: this.tail, next: undefined, timer: undefined };
    node.timer = setTimeout(this.expire, this.waitMs, node);
    if (this.tail) this.tail.next = node;
    else this.head = node;
    this.tail = node;
    this.size++;
    return true;
  }

  peek(): T | undefined {
    return this.head?.value;
  }

  shift(): T | undefined {
    const node = this.head;
    if (!node) return undefined;
    this.unlink(node);
    return node.value;
  }

  /** Empties the queue (shutdown, removal) and returns what waited, oldest first. */
  drain(): T[] {
    const out: T[] = [];
    for (let v = this.shift(); v !== undefined; v = this.shift()) out.push(v);
    return out;
  }

  private readonly expire = (node: Node<T>): void => {
    node.timer = undefined;
    this.unlink(node);
    this.onTimeout(node.value);
  };

  private unlink(node: Node<T>): void {
    if (node.timer) clearTimeout(node.timer);
    node.timer = undefined;
    if (node.prev) node.prev.next = node.next;
    else this.head = node.next;
    if (node.next) node.next.prev = node.prev;
    else this.tail = node.prev;
    node.prev = node.next = undefined;
    this.size--;
  }
}
