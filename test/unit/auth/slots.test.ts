import { describe, expect, it } from 'vitest'
import { Slots } from '#server/auth/passwords'
import { UnavailableError } from '#server/errors'

/** A job the test finishes by hand. */
function job() {
  let finish!: () => void
  const done = new Promise<void>((r) => (finish = r))
  return { finish, run: () => done }
}

describe('Slots', () => {
  it('runs at most `limit` jobs at once, the rest in order, and refuses past the queue', async () => {
    const slots = new Slots(2, 2)
    const jobs = Array.from({ length: 4 }, job)
    const started: number[] = []
    const runs = jobs.map((j, i) => slots.run(() => (started.push(i), j.run())))
    await expect(slots.run(async () => 'never')).rejects.toBeInstanceOf(UnavailableError)
    await Promise.resolve()
    expect(started).toEqual([0, 1])
    jobs[1]!.finish()
    await runs[1]
    await new Promise((r) => setImmediate(r))
    expect(started).toEqual([0, 1, 2])
    jobs[0]!.finish()
    jobs[2]!.finish()
    await Promise.all([runs[0], runs[2]])
    await new Promise((r) => setImmediate(r))
    expect(started).toEqual([0, 1, 2, 3])
    jobs[3]!.finish()
    await runs[3]
    // All slots free again: a job runs at once.
    expect(await slots.run(async () => 'ran')).toBe('ran')
  })

  it('frees its slot when a job fails', async () => {
    const slots = new Slots(1, 0)
    await expect(slots.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    expect(await slots.run(async () => 'ran')).toBe('ran')
  })
})
