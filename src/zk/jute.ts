/**
 * ZooKeeper's wire encoding (jute): big-endian ints and longs, strings and buffers with an int length
 * (-1 for null), vectors with an int count, booleans as one byte. Only what our requests and their
 * answers use.
 */

/** Thrown when an answer is shorter than its own fields say: a broken frame, not a ZooKeeper error. */
export class JuteError extends Error {
  override readonly name = 'JuteError';
}

export class JuteWriter {
  private readonly parts: Buffer[] = [];
  private size = 0;

  int(value: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeInt32BE(value);
    return this.push(b);
  }

  long(value: bigint): this {
    const b = Buffer.allocUnsafe(8);
    b.writeBigInt64BE(value);
    return this.push(b);
  }

  bool(value: boolean): this {
    return this.push(Buffer.from([value ? 1 : 0]));
  }

  buffer(value: Buffer | undefined): this {
    if (value === undefined) return this.int(-1);
    this.int(value.length);
    return this.push(value);
  }

  string(value: string | undefined): this {
    return this.buffer(value === undefined ? undefined : Buffer.from(value, 'utf8'));
  }

  stringVector(values: readonly string[]): this {
    this.int(values.length);
    for (const v of values) this.string(v);
    return this;
  }

  /** The bytes written, behind a 4-byte length: one frame as it goes on the wire. */
  frame(): Buffer {
    const length = Buffer.allocUnsafe(4);
    length.writeInt32BE(this.size);
    return Buffer.concat([length, ...this.parts], this.size + 4);
  }

  private push(b: Buffer): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }
}

export class JuteReader {
  private offset = 0;

  constructor(private readonly data: Buffer) {}

  get remaining(): number {
    return this.data.length - this.offset;
  }

  int(): number {
    this.need(4);
    const v = this.data.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  long(): bigint {
    this.need(8);
    const v = this.data.readBigInt64BE(this.offset);
    this.offset += 8;
    return v;
  }

  bool(): boolean {
    this.need(1);
    return this.data[this.offset++] !== 0;
  }

  buffer(): Buffer | undefined {
    const length = this.int();
    if (length < 0) return undefined;
    this.need(length);
    const v = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return v;
  }

  string(): string | undefined {
    return this.buffer()?.toString('utf8');
  }

  stringVector(): string[] {
    const count = this.int();
    const out: string[] = [];
    for (let i = 0; i < count; i++) out.push(this.string() ?? '');
    return out;
  }

  private need(bytes: number): void {
    if (this.offset + bytes > this.data.length) {
      throw new JuteError(`a ZooKeeper answer ended early: ${bytes} more bytes expected at byte ${this.offset} of ${this.data.length}`);
    }
  }
}
