package deploy

import (
	"context"
	"fmt"
	"time"
)

// ErrTimeoutReserve is the cause of a WorkContext that ended because only timeout_reserve was left
// of the run's timeout. It wraps context.DeadlineExceeded: the run ran out of time.
var ErrTimeoutReserve = fmt.Errorf("only timeout_reserve is left of timeout: %w", context.DeadlineExceeded)

// WorkDeadline is when waits must end so that timeout_reserve is left of the run's timeout for
// putting production back (a rollback and its release) and reporting: ctx's deadline less the
// reserve. ok is false when ctx has no deadline (then waits have no such bound).
func (r *Runner) WorkDeadline(ctx context.Context) (deadline time.Time, ok bool) {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Time{}, false
	}
	return d.Add(-r.Config.TimeoutReserve), true
}

// WorkContext is ctx ending at WorkDeadline, with ErrTimeoutReserve as its cause
// (context.Cause): the context for a wait that may take long (the health check, a rate-limit wait)
// and must leave the reserve to what follows a failure. The rollback itself runs on ctx.
func (r *Runner) WorkContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d, ok := r.WorkDeadline(ctx)
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadlineCause(ctx, d, ErrTimeoutReserve)
}
