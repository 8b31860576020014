# frozen_string_literal: true

# The Sidekiq Ruby API side of bench/dead.bench.ts (Debian's sidekiq 6.4.1), whole process:
#
#   REDIS_URL=redis://127.0.0.1:PORT/0 ruby bench/dead-ruby.rb iterate     # walk Sidekiq::DeadSet, aggregate
#   REDIS_URL=redis://127.0.0.1:PORT/0 ruby bench/dead-ruby.rb retry-all   # Sidekiq::DeadSet#retry_all
#
# `iterate` computes what `qdoctor dead` reports (count, oldest/newest, ages, top classes with the
# Active Job class, top errors with first/last seen, unreadable entries) through DeadSet#each, which
# reads 50 entries per ZRANGE. Prints one JSON line.
require "json"
require "sidekiq"
require "sidekiq/api"

url = ENV.fetch("REDIS_URL") { abort "dead-ruby.rb: REDIS_URL is not set" }
abort "dead-ruby.rb: refusing to use port 6379" if url =~ /:6379(\/|\z)/
Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)
Sidekiq.configure_client { |config| config.redis = {url: url} }
Sidekiq.logger = Sidekiq::Logger.new($stderr, level: Logger::WARN)

case ARGV.fetch(0)
when "iterate"
  now = Time.now.to_f
  buckets = [3600, 86_400, 7 * 86_400, 30 * 86_400, 90 * 86_400, 180 * 86_400, Float::INFINITY]
  ages = Array.new(buckets.size, 0)
  classes = Hash.new(0)
  errors = {}
  count = corrupt = 0
  oldest = newest = nil
  Sidekiq::DeadSet.new.each do |entry|
    count += 1
    score = entry.score
    oldest = score if oldest.nil? || score < oldest
    newest = score if newest.nil? || score > newest
    ages[buckets.index { |max| now - score < max }] += 1
    begin
      classes[entry.display_class] += 1
      key = [entry["error_class"], entry["error_message"].to_s.lines.first.to_s.gsub(/\d+/, "#")]
      group = (errors[key] ||= {"count" => 0, "first" => score, "last" => score})
      group["count"] += 1
      group["first"] = score if score < group["first"]
      group["last"] = score if score > group["last"]
    rescue JSON::ParserError
      corrupt += 1
    end
  end
  top_errors = errors.sort_by { |_, g| -g["count"] }.first(10).map { |(klass, message), g| {"errorClass" => klass, "message" => message, "count" => g["count"]} }
  puts JSON.generate("read" => count, "corrupt" => corrupt, "oldest" => oldest, "newest" => newest, "ages" => ages,
    "topClasses" => classes.sort_by { |_, n| -n }.first(10).to_h, "topErrors" => top_errors)
when "retry-all"
  Sidekiq::DeadSet.new.retry_all
  puts JSON.generate("left" => Sidekiq::DeadSet.new.size)
else
  abort "dead-ruby.rb: iterate | retry-all"
end
