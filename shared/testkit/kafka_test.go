package testkit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
)

// A consumer group reads back every message written to a seeded topic, each exactly once.
func TestKafkaConsumerGroupRoundTrip(t *testing.T) {
	t.Parallel()
	const topic, total = "orders", 100
	var brokers []string

	t.Run("round trip", func(t *testing.T) {
		env := Kafka(t, topic)
		require.NotNil(t, env.Cluster)
		brokers = env.Brokers
		ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
		defer cancel()
		assert.Equal(t, KafkaPartitions, partitionCount(t, ctx, env.Brokers[0], topic))

		// Its own Transport: the shared kafka.DefaultTransport would keep goroutines and
		// connections to this (soon closed) cluster alive after the test.
		transport := &kafka.Transport{}
		defer transport.CloseIdleConnections()
		w := &kafka.Writer{
			Addr:         kafka.TCP(env.Brokers...),
			Transport:    transport,
			Topic:        topic,
			Balancer:     &kafka.Hash{},
			RequiredAcks: kafka.RequireAll,
			BatchTimeout: 5 * time.Millisecond,
		}
		msgs := make([]kafka.Message, total)
		want := make(map[string]bool, total)
		for i := range msgs {
			k := "order-" + strconv.Itoa(i)
			msgs[i] = kafka.Message{Key: []byte(k), Value: []byte("v" + k)}
			want[k] = true
		}
		require.NoError(t, w.WriteMessages(ctx, msgs...))
		require.NoError(t, w.Close())

		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: env.Brokers,
			GroupID: "testkit-readers",
			Topic:   topic,
			MaxWait: 50 * time.Millisecond,
		})
		defer r.Close()
		got := make(map[string]int, total)
		partitions := map[int]bool{}
		for len(got) < total {
			m, err := r.FetchMessage(ctx)
			require.NoError(t, err, "read %d of %d", len(got), total)
			got[string(m.Key)]++
			partitions[m.Partition] = true
			assert.Equal(t, "v"+string(m.Key), string(m.Value))
			require.NoError(t, r.CommitMessages(ctx, m))
		}
		for k, n := range got {
			assert.Equal(t, 1, n, "%s read %d times", k, n)
			assert.True(t, want[k], "unexpected key %s", k)
		}
		assert.Len(t, partitions, KafkaPartitions, "the hash balancer should spread keys over every partition")
	})
	if brokers == nil {
		return
	}
	var d net.Dialer
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if c, err := d.DialContext(ctx, "tcp", brokers[0]); err == nil {
		c.Close()
		t.Errorf("broker %s still accepts connections after cleanup", brokers[0])
	}
}

// Each call gets its own cluster: a topic made in one is absent from the other.
func TestKafkaClustersAreSeparate(t *testing.T) {
	t.Parallel()
	a, b := Kafka(t, "only-in-a"), Kafka(t)
	assert.NotEqual(t, a.Brokers, b.Brokers)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	assert.Equal(t, KafkaPartitions, partitionCount(t, ctx, a.Brokers[0], "only-in-a"))
	conn, err := kafka.DialContext(ctx, "tcp", b.Brokers[0])
	require.NoError(t, err)
	defer conn.Close()
	parts, err := conn.ReadPartitions() // every topic; naming one would auto-create it
	require.NoError(t, err)
	for _, p := range parts {
		assert.NotEqual(t, "only-in-a", p.Topic, "a topic of one cluster appeared in another")
	}
}

// KAFKA_BROKERS names a cluster (here another kfake without topics): Kafka uses it and creates
// the missing topics, tolerating those that exist.
func TestKafkaFromEnvCreatesTopics(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	defer c.Close()
	t.Setenv("KAFKA_BROKERS", c.ListenAddrs()[0])
	t.Setenv("CI", "true") // the cluster is there: failing to reach it must fail, not skip

	env := Kafka(t, "made-by-testkit")
	assert.Nil(t, env.Cluster)
	assert.Equal(t, c.ListenAddrs(), env.Brokers)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	assert.Equal(t, KafkaPartitions, partitionCount(t, ctx, env.Brokers[0], "made-by-testkit"))
	Kafka(t, "made-by-testkit") // already exists: no error
}

func partitionCount(t *testing.T, ctx context.Context, broker, topic string) int {
	t.Helper()
	conn, err := kafka.DialContext(ctx, "tcp", broker)
	require.NoError(t, err)
	defer conn.Close()
	parts, err := conn.ReadPartitions(topic)
	var kerr kafka.Error
	if errors.As(err, &kerr) {
		return 0
	}
	require.NoError(t, err, fmt.Sprintf("partitions of %s", topic))
	return len(parts)
}
