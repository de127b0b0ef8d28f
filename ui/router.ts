import { createRouter, createWebHistory } from 'vue-router'
import { handleUnauthorized } from './lib/api'
import { forget, useAuth } from './lib/auth'
import { stop } from './lib/live'
import { routes } from './routes'

export const router = createRouter({ history: createWebHistory(), routes })

/** Sign-in, remembering where to come back to (only a path of this console). */
export const signInRoute = (next: string) => ({ name: 'sign-in', query: next && next !== '/' ? { next } : {} })

router.beforeEach(async (to) => {
  const auth = useAuth()
  const user = await auth.load()
  if (to.meta.public) return true
  if (!user) return signInRoute(to.fullPath)
  if (to.meta.admin && !auth.canWrite.value) return { name: 'dashboard' }
  return true
})

// A session that ends (expired, signed out elsewhere): back to sign-in, then back here.
handleUnauthorized(() => {
  const here = router.currentRoute.value
  if (here.meta.public) return
  forget()
  stop()
  void router.replace(signInRoute(here.fullPath))
})
