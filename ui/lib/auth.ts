import { computed, ref } from 'vue'
import { get, post } from './api'

export interface User { username: string; role: 'admin' | 'viewer' }

const user = ref<User | null>(null)
let checked: Promise<User | null> | undefined

/** The signed-in user, shared by every component: `canWrite` hides every write control from viewers. */
export function useAuth() {
  return {
    user,
    canWrite: computed(() => user.value?.role === 'admin'),
    /** Asks the server once who is signed in (null: nobody). */
    load() {
      checked ??= get<User>('/api/auth/me').then((u) => (user.value = u), () => (user.value = null))
      return checked
    },
    async signIn(username: string, password: string) {
      user.value = await post<User>('/api/auth/login', { username, password })
      checked = Promise.resolve(user.value)
    },
    async signOut() {
      await post('/api/auth/logout').catch(() => {})
      forget()
    },
  }
}

/** Forgets the user (the session ended), so the next navigation asks the server again. */
export function forget() {
  user.value = null
  checked = undefined
}
