"""QuestionAnswerExampleGen: SQuAD JSON / JSON Lines to tf.train.Examples (`id`, `title`,
`question`, `context`, `answer_text`, `answer_start`)."""

from components.question_answer_example_gen.component import QuestionAnswerExampleGen
from components.question_answer_example_gen.reader import QADataError, check_qa_data, read_questions

__all__ = ["QuestionAnswerExampleGen", "QADataError", "check_qa_data", "read_questions"]
