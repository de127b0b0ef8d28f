import type { RouteRecordRaw } from 'vue-router'
import { N_ } from './lib/i18n'

declare module 'vue-router' {
  interface RouteMeta {
    /** Shown without a session (sign-in). */
    public?: boolean
    /** The nav entry's msgid; pages without one are not in the nav. */
    nav?: string
    /** Admins only: a viewer is sent to the dashboard and sees no nav entry. */
    admin?: boolean
    /** Shown alone, without the top bar (a detached console window). */
    bare?: boolean
  }
}

/** Every page of the console: one file in ui/pages/ and one entry here. */
export const routes: RouteRecordRaw[] = [
  { path: '/sign-in', name: 'sign-in', component: () => import('./pages/SignIn.vue'), meta: { public: true } },
  { path: '/', name: 'dashboard', component: () => import('./pages/Dashboard.vue'), meta: { nav: N_('Dashboard') } },
  { path: '/labs', name: 'labs', component: () => import('./pages/Labs.vue'), meta: { nav: N_('Labs') } },
  { path: '/profiles', name: 'profiles', component: () => import('./pages/Profiles.vue'), meta: { nav: N_('Profiles') } },
  { path: '/images', name: 'images', component: () => import('./pages/Images.vue'), meta: { nav: N_('Images') } },
  { path: '/terminals', name: 'terminals', component: () => import('./pages/Terminals.vue'), meta: { nav: N_('Terminals') } },
  { path: '/clients', name: 'clients', component: () => import('./pages/Clients.vue'), meta: { nav: N_('Client classes') } },
  { path: '/users', name: 'users', component: () => import('./pages/Users.vue'), meta: { nav: N_('Users'), admin: true } },
  { path: '/hosts', name: 'hosts', component: () => import('./pages/Hosts.vue'), meta: { nav: N_('Hosts') } },
  { path: '/events', name: 'events', component: () => import('./pages/Events.vue'), meta: { nav: N_('Events') } },
  // Reached from the user's name in the top bar.
  { path: '/account', name: 'account', component: () => import('./pages/Account.vue') },
  { path: '/vms/:id', name: 'vm', component: () => import('./pages/Vm.vue') },
  { path: '/vms/:id/console', name: 'vm-console', component: () => import('./pages/VmConsoleWindow.vue'), meta: { admin: true, bare: true } },
  { path: '/:path(.*)*', name: 'not-found', component: () => import('./pages/NotFound.vue') },
]
