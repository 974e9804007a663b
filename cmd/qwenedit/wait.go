package main

import (
	"context"

	"github.com/seed-b62e15c8/qwenedit"
)

var waitCommand = &command{
	name:    "wait",
	args:    "TASK_ID [-out DIR] [flags]",
	summary: "wait for a task submitted earlier and save its results",
	about: `Polls the task until it finishes (the first poll is at once) and saves its results into
-out, named after the task: how an interrupted or timed-out edit is resumed. Nothing is
submitted, so nothing more is charged. Needs MULEROUTER_API_KEY, and the -model the task
was submitted with.

` + resultsNaming + ` The stem is the task ID.

` + outputHelp,
	run: runWait,
}

func runWait(ctx context.Context, c *cli, args []string) error {
	var (
		model, out string
		wait       waitFlags
	)
	fs := newFlagSet("wait")
	fs.StringVar(&out, "out", "out", "folder for the results")
	registerModel(fs, &model)
	c.registerJSON(fs)
	wait.register(fs, "run the same command again")
	positional, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return usagef("want one TASK_ID, got %d arguments", len(positional))
	}
	if err := wait.check(); err != nil {
		return err
	}
	if err := checkOutDir(out); err != nil {
		return err
	}
	b, err := c.connect(model, keyRequired, nil)
	if err != nil {
		return err
	}
	defer b.stop()
	id := positional[0]
	x := &explainer{base: b.base, model: model, out: out}
	res := result{TaskID: id}

	progress := c.newTaskProgress(id)
	task, err := b.client.WaitForResult(ctx, id, append(wait.options(false),
		qwenedit.WithOnPoll(progress.update))...)
	progress.done()
	if err != nil {
		return c.fail(res, x.explain(err))
	}
	res.Status, res.Images = string(task.Status), task.Images
	return c.save(ctx, b.client, task, x, &res)
}
