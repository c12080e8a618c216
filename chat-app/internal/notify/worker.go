package notify

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WorkerOptions configure a Worker. Queue, Sender and Consumer are required.
type WorkerOptions struct {
	Queue    Queue
	Sender   Sender
	Consumer string // unique per worker in the consumer group, e.g. the pod name
	Batch    int    // jobs per Receive (16)
	// SendTimeout bounds one Send (5s). Keep it below the queue's Backoff: a job taking longer
	// than that looks abandoned and is given to another worker.
	SendTimeout time.Duration
	Logger      *slog.Logger // (slog.Default())
	Registerer  prometheus.Registerer
}

// Worker delivers jobs from a Queue through a Sender.
type Worker struct {
	o    WorkerOptions
	jobs *prometheus.CounterVec
	dlq  prometheus.Counter
}

// NewWorker checks o and registers the metrics chat_notify_jobs_total{result} (delivered, retry,
// dead, error) and chat_notify_dlq_total.
func NewWorker(o WorkerOptions) (*Worker, error) {
	if o.Queue == nil || o.Sender == nil || o.Consumer == "" {
		return nil, errors.New("notify: Queue, Sender and Consumer are required")
	}
	if o.Batch <= 0 {
		o.Batch = 16
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	reg := o.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	w := &Worker{o: o}
	var err error
	if w.jobs, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chat_notify_jobs_total", Help: "Notification deliveries by result: delivered, retry, dead, error."},
		[]string{"result"})); err != nil {
		return nil, err
	}
	if w.dlq, err = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "chat_notify_dlq_total", Help: "Notification jobs moved to the dead-letter queue."})); err != nil {
		return nil, err
	}
	return w, nil
}

// Run delivers jobs until ctx ends, then returns nil. A job being sent when ctx ends is finished
// (within SendTimeout) so it is not retried needlessly.
func (w *Worker) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		jobs, err := w.o.Queue.Receive(ctx, w.o.Consumer, w.o.Batch)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if errors.Is(err, ErrClosed) {
				return err
			}
			w.jobs.WithLabelValues("error").Inc()
			w.o.Logger.WarnContext(ctx, "receive notification jobs", "err", err)
			select { // the queue is down: wait before asking again
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
		for _, j := range jobs {
			w.deliver(context.WithoutCancel(ctx), j)
		}
	}
	return nil
}

func (w *Worker) deliver(ctx context.Context, j Job) {
	sctx, cancel := context.WithTimeout(ctx, w.o.SendTimeout)
	err := w.o.Sender.Send(sctx, j)
	cancel()
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err == nil {
		if aerr := w.o.Queue.Ack(qctx, j); aerr != nil {
			// Not acked: it is delivered again after the backoff (at least once).
			w.jobs.WithLabelValues("error").Inc()
			w.o.Logger.WarnContext(ctx, "ack notification job", "job_id", j.ID, "err", aerr)
			return
		}
		w.jobs.WithLabelValues("delivered").Inc()
		return
	}
	dead, ferr := w.o.Queue.Fail(qctx, j, err)
	switch {
	case ferr != nil:
		w.jobs.WithLabelValues("error").Inc()
		w.o.Logger.WarnContext(ctx, "record failed notification", "job_id", j.ID, "send_err", err, "err", ferr)
	case dead:
		w.jobs.WithLabelValues("dead").Inc()
		w.dlq.Inc()
		w.o.Logger.ErrorContext(ctx, "notification dead-lettered", "job_id", j.ID, "user_id", j.UserID,
			"attempts", j.Attempts, "err", err)
	default:
		w.jobs.WithLabelValues("retry").Inc()
		w.o.Logger.InfoContext(ctx, "notification failed, will retry", "job_id", j.ID, "attempt", j.Attempts, "err", err)
	}
}
