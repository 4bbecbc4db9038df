"""The Draw & predict page's sections: the canvas and picture upload, the learner's digits, the test set."""
