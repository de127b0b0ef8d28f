import { defineEventHandler } from 'h3'
import { useContext } from '../../../server/context'
import { useReconciler } from '../../../server/reconcile'
import { listVms } from '../../../server/vms'

export default defineEventHandler(async () => listVms(await useContext(), await useReconciler()))
