import { defineEventHandler } from 'h3'
import { useContext } from '../../../server/context'
import { useReconciler } from '../../../server/reconcile'
import { listVms } from '../../../server/vms'
import { languageOf } from '../../../server/http/language'

export default defineEventHandler(async (event) => listVms(await useContext(), await useReconciler(), languageOf(event)))
