package testkit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KafkaPartitions is the partition count of the topics Kafka creates, and of topics the
// in-process cluster creates automatically.
const KafkaPartitions = 3

// KafkaEnv is a Kafka-protocol cluster for one test.
type KafkaEnv struct {
	Brokers []string       // host:port of each broker
	Cluster *kfake.Cluster // the in-process cluster; nil when KAFKA_BROKERS names a real one
}

// Kafka starts an in-process Kafka-protocol cluster (kfake: three brokers on 127.0.0.1, automatic
// topic creation allowed) with the given topics of KafkaPartitions partitions, and closes it in
// Cleanup. Each call gets its own cluster, so topics and consumer groups never leak between tests.
//
// With KAFKA_BROKERS set (comma-separated host:port) it uses that cluster instead and creates the
// topics that do not exist yet. Nothing is isolated or deleted there: give topics and groups
// names unique to the test.
func Kafka(t testing.TB, topics ...string) KafkaEnv {
	t.Helper()
	if v := os.Getenv("KAFKA_BROKERS"); v != "" {
		return realKafka(t, v, topics)
	}
	c, err := kfake.NewCluster(
		kfake.SeedTopics(KafkaPartitions, topics...),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(KafkaPartitions),
	)
	if err != nil {
		t.Fatalf("testkit: start in-process Kafka (kfake): %v", err)
		return KafkaEnv{}
	}
	t.Cleanup(c.Close)
	return KafkaEnv{Brokers: c.ListenAddrs(), Cluster: c}
}

func realKafka(t testing.TB, list string, topics []string) KafkaEnv {
	t.Helper()
	var brokers []string
	for b := range strings.SplitSeq(list, ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	if err := probeWithin(func(ctx context.Context, _ string) error { return dialAny(ctx, brokers...) }, list); err != nil {
		Unavailable(t, "Kafka did not answer at %s (from KAFKA_BROKERS): %v.\n"+
			"Fix KAFKA_BROKERS, or unset it to use an in-process kfake cluster.", list, err)
		return KafkaEnv{}
	}
	if len(topics) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := createTopics(ctx, brokers, topics); err != nil {
			t.Fatalf("testkit: %v", err)
			return KafkaEnv{}
		}
	}
	return KafkaEnv{Brokers: brokers}
}

// createTopics creates the topics with KafkaPartitions partitions and the broker's default
// replication factor; topics that already exist are left as they are.
func createTopics(ctx context.Context, brokers, topics []string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return fmt.Errorf("kafka client for %v: %w", brokers, err)
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10_000
	for _, name := range topics {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic = name
		rt.NumPartitions = KafkaPartitions
		rt.ReplicationFactor = -1 // broker default
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("create topics %v: %w", topics, err)
	}
	var errs []error
	for _, rt := range resp.Topics {
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create topic %s: %w", rt.Topic, err))
		}
	}
	return errors.Join(errs...)
}
