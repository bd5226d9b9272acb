"""The Train card's λ and epochs labels say, on hover, what the fields do to an edit."""

from __future__ import annotations

from dash import html


def labels_with_hints(component) -> dict[str, str]:
    """{label text: its title} of every hinted label under `component`."""
    return {
        c.children: c.title
        for c in component._traverse()
        if isinstance(c, html.Span) and getattr(c, "title", None)
    }


def test_lambda_and_epochs_say_what_they_do_to_an_edit():
    import pages._loop_side as side

    hints = labels_with_hints(side.train_card)
    lam, epochs = hints["λ (teacher weight)"], hints["epochs / chunk"]
    # as measured (docs/benchmarks.md §0): λ sets the balance, not how far an edit goes
    assert "does not carry an edit further" in lam and "other classes" in lam
    assert "More epochs carry an edit further" in epochs
    assert all("Empty: the run's own" in h for h in (lam, epochs))
