"""Errors that carry a message meant for the user (file name and what is wrong)."""


class InputError(Exception):
    """A user's input file cannot be used; the message names the file and the problem."""

    def __init__(self, path, problem):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
