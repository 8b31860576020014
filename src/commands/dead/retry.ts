import Dead, {type DeadMode, filterFlags, walkFlags} from './index.js'

const {corrupt: _corrupt, ...selectFlags} = filterFlags

export default class DeadRetry extends Dead {
  static override summary = 'Retry dead jobs: bounded by a snapshot, exactly once, throttled (the same as `qdoctor dead --retry`)'
  static override description = `Retries the dead jobs the filters select (all of them without filters) the way Sidekiq's own retry does: retry_count − 1, a fresh enqueued_at in the payload's own unit (float seconds up to 7.x, integer ms in 8.x), every other byte of the payload unchanged (big integers in args included).
Bounded by a snapshot taken at the start (the highest score and the count): the walk reads pages of entries with score ≤ that bound, in ascending order, and stops after that many moves, so jobs that die again while it runs are never picked up again and the run always ends — unlike DeadSet#retry_all up to Sidekiq 7.3.4.
Each job moves with one atomic script that removes it from dead and pushes it to its queue (and registers the queue) only if it was still there: exactly once, even with live workers or a Web UI retry at the same time. Journaled: \`qdoctor undo\` takes back what is still queued.`

  static override examples = [
    '<%= config.bin %> dead retry --dry-run',
    '<%= config.bin %> dead retry --class HardJob --rate 20',
    '<%= config.bin %> dead retry --error /Net::ReadTimeout/ --newer-than 2h --yes --json',
    '<%= config.bin %> dead retry --jid 2f6b4c1e9a0d3b5c7e8f9a1b --yes',
  ]

  // Only what a retry uses; the mode flags of `qdoctor dead` make no sense here.
  static override flags = {...walkFlags, ...selectFlags} as unknown as typeof Dead.flags

  protected override mode(): DeadMode {
    return 'retry'
  }
}
