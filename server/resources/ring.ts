/**
 * A fixed number of samples of `width` figures each, oldest overwritten first: its memory is set
 * when it is made (typed arrays), however long LabVirt runs. Times are Float64 (epoch ms), the
 * figures Float32 (rates and sizes, where 7 digits are plenty); NaN stands for "not measured".
 */
export class Ring {
  private readonly times: Float64Array
  private readonly values: Float32Array
  private start = 0
  length = 0

  constructor(readonly capacity: number, readonly width: number) {
    this.times = new Float64Array(capacity)
    this.values = new Float32Array(capacity * width)
  }

  push(t: number, figures: ArrayLike<number>) {
    const i = (this.start + this.length) % this.capacity
    if (this.length < this.capacity) this.length++
    else this.start = (this.start + 1) % this.capacity
    this.times[i] = t
    for (let c = 0; c < this.width; c++) this.values[i * this.width + c] = figures[c] ?? NaN
  }

  /** Oldest first: the times and one array per figure (null where not measured), as charts take them. */
  columns(): { t: number[]; values: (number | null)[][] } {
    const t: number[] = []
    const values: (number | null)[][] = Array.from({ length: this.width }, () => [])
    for (let k = 0; k < this.length; k++) {
      const i = (this.start + k) % this.capacity
      t.push(this.times[i]!)
      for (let c = 0; c < this.width; c++) {
        const x = this.values[i * this.width + c]!
        values[c]!.push(Number.isNaN(x) ? null : x)
      }
    }
    return { t, values }
  }

}

export type Range = 'hour' | 'day'

const HOUR_MS = 3_600_000
const DAY_MS = 24 * HOUR_MS

/**
 * An hour of samples at full resolution and a day of averages over `bucketMs` (a minute): two
 * rings, so a VM's or host's history never grows past (3600 / interval + 1440) samples.
 */
export class History<N extends string = string> {
  private readonly hour: Ring
  private readonly day: Ring
  private bucket = -1
  private readonly sums: Float64Array
  private readonly counts: Uint32Array

  constructor(readonly names: readonly N[], intervalMs: number, private readonly bucketMs = 60_000) {
    this.hour = new Ring(Math.ceil(HOUR_MS / intervalMs), names.length)
    this.day = new Ring(Math.ceil(DAY_MS / bucketMs), names.length)
    this.sums = new Float64Array(names.length)
    this.counts = new Uint32Array(names.length)
  }

  /** Samples kept at most, whatever runs through it. */
  get capacity() {
    return this.hour.capacity + this.day.capacity
  }

  get size() {
    return this.hour.length + this.day.length
  }

  add(t: number, figures: ArrayLike<number>) {
    this.hour.push(t, figures)
    const bucket = Math.floor(t / this.bucketMs)
    if (bucket !== this.bucket) {
      this.flush()
      this.bucket = bucket
    }
    for (let c = 0; c < this.names.length; c++) {
      const x = figures[c] ?? NaN
      if (Number.isNaN(x)) continue
      this.sums[c]! += x
      this.counts[c]!++
    }
  }

  /** The hour as sampled, or the day's averages with the bucket still filling last. */
  series(range: Range): Series<N> {
    const { t, values } = range === 'hour' ? this.hour.columns() : this.day.columns()
    if (range === 'day' && this.bucket >= 0) {
      t.push(this.bucket * this.bucketMs)
      this.averages().forEach((x, c) => values[c]!.push(Number.isNaN(x) ? null : x))
    }
    return named(this.names, t, values)
  }

  private averages() {
    return Array.from(this.sums, (s, c) => (this.counts[c] ? s / this.counts[c]! : NaN))
  }

  private flush() {
    if (this.bucket < 0) return
    this.day.push(this.bucket * this.bucketMs, this.averages())
    this.sums.fill(0)
    this.counts.fill(0)
  }
}

export type Series<N extends string = string> = Record<N, (number | null)[]> & { t: number[] }

function named<N extends string>(names: readonly N[], t: number[], values: (number | null)[][]): Series<N> {
  return Object.assign({ t }, Object.fromEntries(names.map((n, c) => [n, values[c]!]))) as Series<N>
}

/** The series of something never sampled here. */
export const emptySeries = <N extends string>(names: readonly N[]) => named(names, [], names.map(() => []))
