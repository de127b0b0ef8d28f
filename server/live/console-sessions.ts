import type { Repositories, StoreChange } from '#storage'
import { stillSignedIn } from '../auth/sessions'

/** Sessions also expire without a write: look this often even when the store is quiet. */
export const CONSOLE_CHECK_MS = 20_000

interface Watched {
  token: string | undefined
  end: () => void
}

/**
 * The one watcher of open consoles' sessions in this process: on a write to `sessions` or `users`
 * (a sign-out, a deleted user, a role change, which ends the user's sessions) and every
 * CONSOLE_CHECK_MS, each console whose session no longer holds an admin is ended.
 */
class ConsoleSessions {
  private watched = new Set<Watched>()
  private timer: NodeJS.Timeout | undefined
  private checking: Promise<void> | undefined
  private again = false
  private onChange = (c: StoreChange) => {
    if (c.collection === 'sessions' || c.collection === 'users' || c.collection === '*') this.check()
  }

  constructor(private store: Repositories) {}

  /** Watches a console until the returned function is called; `end` is called once if its session ends. */
  watch(token: string | undefined, end: () => void): () => void {
    const w: Watched = { token, end }
    if (this.watched.size === 0) {
      this.store.kv.changes.on('change', this.onChange)
      this.timer = setInterval(() => this.check(), CONSOLE_CHECK_MS)
      this.timer.unref()
    }
    this.watched.add(w)
    return () => this.unwatch(w)
  }

  private unwatch(w: Watched) {
    if (!this.watched.delete(w) || this.watched.size > 0) return
    this.store.kv.changes.off('change', this.onChange)
    clearInterval(this.timer)
  }

  // One pass at a time; changes during a pass make one more pass after it.
  private check() {
    if (this.checking) {
      this.again = true
      return
    }
    this.checking = Promise.all([...this.watched].map(async (w) => {
      if (await stillSignedIn(this.store, w.token, 'admin')) return
      this.unwatch(w)
      w.end()
    })).catch((err) => console.error('[labvirt] console sessions:', (err as Error).message)).then(() => {
      this.checking = undefined
      if (this.again) {
        this.again = false
        this.check()
      }
    })
  }
}

let instance: ConsoleSessions | undefined

export function useConsoleSessions(store: Repositories): ConsoleSessions {
  instance ??= new ConsoleSessions(store)
  return instance
}
