# frozen_string_literal: true

# The naive way to find batch jobs: one lookup per jid through the Sidekiq Ruby API (Debian's
# sidekiq 6.4.1), as a script written during an incident would do it:
#   ScheduledSet/RetrySet/DeadSet#find_job (ZSCAN MATCH *jid* + JSON parse), then
#   Sidekiq::Queue#find_job for every queue in `queues` (pages of 50 via LRANGE + JSON parse).
#
#   REDIS_URL=redis://127.0.0.1:PORT/0 ruby bench/batches-naive.rb <jids-file> <seconds budget>
#
# Looks up the jids in the file (one per line) until the time budget is spent, and prints one JSON
# line: {done, seconds, perJid: [{jid, where, seconds}], vmHwmKB}.
require "json"
require "sidekiq"
require "sidekiq/api"

url = ENV.fetch("REDIS_URL") { abort "batches-naive.rb: REDIS_URL is not set" }
abort "batches-naive.rb: refusing port 6379" if url =~ /:6379(\/|\z)/
Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)
Sidekiq.configure_client { |c| c.redis = {url: url, size: 1} }
Sidekiq.logger = Sidekiq::Logger.new($stderr, level: Logger::WARN)

jids = File.readlines(ARGV.fetch(0), chomp: true).reject(&:empty?)
budget = Float(ARGV.fetch(1, "60"))
sets = {"schedule" => Sidekiq::ScheduledSet.new, "retry" => Sidekiq::RetrySet.new, "dead" => Sidekiq::DeadSet.new}

started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
per = []
jids.each do |jid|
  break if Process.clock_gettime(Process::CLOCK_MONOTONIC) - started > budget
  t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  where = nil
  sets.each do |name, set|
    next if where
    where = name if set.find_job(jid)
  end
  unless where
    Sidekiq::Queue.all.each do |q|
      if q.find_job(jid)
        where = "queue:#{q.name}"
        break
      end
    end
  end
  per << {"jid" => jid, "where" => where, "seconds" => Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0}
end

hwm = File.read("/proc/self/status")[/^VmHWM:\s+(\d+)/, 1].to_i rescue nil
$stdout.puts JSON.generate({"done" => per.size, "seconds" => Process.clock_gettime(Process::CLOCK_MONOTONIC) - started, "perJid" => per, "vmHwmKB" => hwm})
