/**
 * One task at a time per key, in the order they were asked for; tasks of other
 * keys run freely. The DNS providers use it so that writers inside this process
 * take turns per record name (a read-modify-write of a record set must not
 * interleave with another one at the same name).
 */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, settled);
    void settled.then(() => {
      if (this.tails.get(key) === settled) this.tails.delete(key);
    });
    return result;
  }
}
