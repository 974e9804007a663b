package main

import (
	"context"
	"fmt"

	"github.com/seed-b62e15c8/qwenedit"
)

var statusCommand = &command{
	name:    "status",
	args:    "TASK_ID [-model M] [-json]",
	summary: "show a task's status and its result URLs",
	about: `Asks once for the task's status and prints it, with the result URLs of a finished
task (valid for 24 hours) or the error of a failed one. It exits 0 whenever it could
read the status, failed tasks included: look at the status. Needs MULEROUTER_API_KEY,
and the -model the task was submitted with.`,
	run: runStatus,
}

func runStatus(ctx context.Context, c *cli, args []string) error {
	var model string
	fs := newFlagSet("status")
	registerModel(fs, &model)
	c.registerJSON(fs)
	positional, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return usagef("want one TASK_ID, got %d arguments", len(positional))
	}
	b, err := c.connect(model, keyRequired, nil)
	if err != nil {
		return err
	}
	defer b.stop()
	x := &explainer{base: b.base, model: model}

	task, err := b.client.Get(ctx, positional[0])
	if err != nil {
		return c.fail(result{TaskID: positional[0]}, x.explain(err))
	}
	if c.json {
		res := result{TaskID: task.ID, Status: string(task.Status), Images: task.Images}
		if task.Status.IsFailure() {
			res.failed(x.explain(taskError(task)))
		}
		c.printJSON(res)
		return nil
	}
	if task.Status.IsFailure() {
		fmt.Fprintln(c.stdout, x.message(taskError(task))) // task <id> failed (code ...): ...
	} else {
		fmt.Fprintf(c.stdout, "task %s: %s\n", task.ID, task.Status)
	}
	for _, u := range task.Images {
		fmt.Fprintf(c.stdout, "result %s\n", u)
	}
	return nil
}

// taskError is the error of a failed task, as WaitForResult would return it.
func taskError(task *qwenedit.Task) *qwenedit.TaskFailedError {
	e := &qwenedit.TaskFailedError{TaskID: task.ID, Task: task}
	if task.Error != nil {
		e.Code, e.Title, e.Detail = task.Error.Code, task.Error.Title, task.Error.Detail
	}
	return e
}
