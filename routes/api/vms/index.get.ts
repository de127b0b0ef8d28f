import { defineEventHandler } from 'h3'
import { useContext } from '#server/context'
import { useReconciler } from '#server/reconcile/index'
import { listVms } from '#server/vms/index'
import { languageOf } from '#server/http/language'

export default defineEventHandler(async (event) => listVms(await useContext(), await useReconciler(), languageOf(event)))
